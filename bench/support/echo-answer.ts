/**
 * The answer of the bare-Hono binary echo (bench/servers/bare-hono-server.ts): the bytes it
 * received, cut or padded to the size of Switchyard's binary answer to the same request, so the
 * baseline moves as many bytes each way as Switchyard does, with no decoding, batching or inference.
 */

/**
 * The last `answerBytes` bytes of `received` (a view, no copy: for a V2 binary request that is the
 * tensor data and the end of the JSON header), or, when fewer bytes came, all of them after zeros.
 */
export function echoAnswer(received: Uint8Array, answerBytes: number): Uint8Array {
  if (!Number.isSafeInteger(answerBytes) || answerBytes < 0) throw new RangeError(`answer size must be a non-negative integer, got ${answerBytes}`);
  if (received.length >= answerBytes) return received.subarray(received.length - answerBytes);
  const answer = new Uint8Array(answerBytes);
  answer.set(received, answerBytes - received.length);
  return answer;
}
