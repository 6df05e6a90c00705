/**
 * A V2 JSON infer answer reduced to its first output, and the check that a peer's answer is the same
 * as Switchyard's (a peer that answers something else is not measured).
 */
export interface V2Answer {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

/** The first output of a V2 JSON infer response body; its data may be flat or nested, row-major. */
export function readV2Answer(text: string): V2Answer {
  const output = (JSON.parse(text) as { outputs?: Array<{ shape: number[]; data: unknown }> }).outputs?.[0];
  if (!output) throw new Error(`no outputs in ${text.slice(0, 300)}`);
  return { shape: output.shape, data: flatten(output.data) };
}

function flatten(data: unknown): number[] {
  return Array.isArray(data) ? data.flatMap(flatten) : [data as number];
}

/**
 * Why `answer` is not `reference`, or undefined when it is: the same shape and every element within
 * 1e-5 + 1e-4 × |reference| (FP32 sums in another order or batch size differ in the last bits).
 */
export function answerDiffers(reference: V2Answer, answer: V2Answer): string | undefined {
  if (JSON.stringify(reference.shape) !== JSON.stringify(answer.shape)) {
    return `shape ${JSON.stringify(answer.shape)}, not ${JSON.stringify(reference.shape)}`;
  }
  if (reference.data.length !== answer.data.length) return `${answer.data.length} elements, not ${reference.data.length}`;
  for (let i = 0; i < reference.data.length; i++) {
    const want = reference.data[i]!;
    const got = answer.data[i]!;
    if (!(Math.abs(want - got) <= 1e-5 + 1e-4 * Math.abs(want))) return `element ${i} is ${got}, Switchyard's is ${want}`;
  }
  return undefined;
}
