/**
 * The `x-served-by` header of a predict answer: the node or backend target that ran it (this
 * process's node id when it ran it itself). One definition for the native and V2 routes.
 */
export function servedByHeader(servedBy: string | undefined): Record<string, string> {
  return servedBy === undefined ? {} : { 'x-served-by': servedBy };
}
