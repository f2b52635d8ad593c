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
export { isValidSubject, isValidSubjectPattern, SubjectIndex, subjectMatches } from './subject.js';
