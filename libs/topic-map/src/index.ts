export {
  PrefixInvalidError,
  QosClassInvalidError,
  SubjectPatternInvalidError,
  SubjectTokenInvalidError,
  SubjectTooLongError,
  TierInvalidError,
  TopicFilterInvalidError,
  TopicNameInvalidError,
} from './errors.js';
export { decodeToken, encodeLevel } from './escape.js';
export type { QosClass, SubjectSpace, Tier } from './mapping.js';
export {
  DEFAULT_PREFIX,
  filterToSubjects,
  MAX_SUBJECT_BYTES,
  qosClass,
  streamSubjects,
  subjectToTopic,
  TIERS,
  topicToSubject,
  validatePrefix,
} from './mapping.js';
export { isValidSubject, isValidSubjectPattern, SubjectIndex, subjectMatches } from './subject.js';
export {
  isValidTopicFilter,
  isValidTopicName,
  MAX_TOPIC_BYTES,
  parseSharedSubscription,
  topicMatches,
  validateTopicFilter,
  validateTopicName,
} from './topic.js';
