/** Libraries that speak a client protocol on the wire: only services may use them. */
export declare const WIRE_LIBRARIES: readonly string[];
/** Returns the list of dependency-direction problems found under `root`. */
export declare function checkDependencies(root: string): string[];
