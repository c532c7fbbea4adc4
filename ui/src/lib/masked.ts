// Masked values appear inside recorded payloads as tokens such as `[EMAIL]`,
// `[CREDIT_CARD ****1111]` or `[EMAIL:hmac:0a1b2c3d4e5f6a7b]` (the contract's regex).
export const MASK_TOKEN = /\[[A-Z][A-Z0-9_]*(?: \*{4}[A-Za-z0-9]{4}|:hmac:[0-9a-f]+)?\]/g;

export type Piece = { text: string; masked: boolean };

export function splitMasked(text: string): Piece[] {
  const out: Piece[] = [];
  let last = 0;
  for (const m of text.matchAll(MASK_TOKEN)) {
    const at = m.index ?? 0;
    if (at > last) out.push({ text: text.slice(last, at), masked: false });
    out.push({ text: m[0], masked: true });
    last = at + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), masked: false });
  return out;
}

export function countMasked(text: string): number {
  return [...text.matchAll(MASK_TOKEN)].length;
}
