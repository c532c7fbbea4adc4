// Line diff by longest common subsequence (policy documents are a few hundred lines, so the
// O(n·m) table is small). Common prefix and suffix are trimmed first.

export type DiffLine = { kind: "same" | "add" | "del"; text: string; oldNo: number | null; newNo: number | null };

export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split("\n");
  const b = after.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  // lcs[i][j] = LCS length of a[start+i..endA) and b[start+j..endB)
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    const row = lcs[i]!;
    const below = lcs[i + 1]!;
    for (let j = m - 1; j >= 0; j--) {
      row[j] = a[start + i] === b[start + j] ? below[j + 1]! + 1 : Math.max(below[j]!, row[j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  for (let k = 0; k < start; k++) out.push({ kind: "same", text: a[k]!, oldNo: k + 1, newNo: k + 1 });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      out.push({ kind: "same", text: a[start + i]!, oldNo: start + i + 1, newNo: start + j + 1 });
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push({ kind: "add", text: b[start + j]!, oldNo: null, newNo: start + j + 1 });
      j++;
    } else {
      out.push({ kind: "del", text: a[start + i]!, oldNo: start + i + 1, newNo: null });
      i++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) {
    out.push({ kind: "same", text: a[endA + k]!, oldNo: endA + k + 1, newNo: endB + k + 1 });
  }
  // Show deletions before additions within a changed block (easier to read).
  return reorderBlocks(out);
}

function reorderBlocks(lines: DiffLine[]): DiffLine[] {
  const out: DiffLine[] = [];
  let adds: DiffLine[] = [];
  let dels: DiffLine[] = [];
  const flush = () => {
    out.push(...dels, ...adds);
    adds = [];
    dels = [];
  };
  for (const l of lines) {
    if (l.kind === "same") {
      flush();
      out.push(l);
    } else if (l.kind === "add") adds.push(l);
    else dels.push(l);
  }
  flush();
  return out;
}

/** Keeps `context` unchanged lines around changes; runs of hidden lines become one marker. */
export type Hunk = DiffLine | { kind: "skip"; count: number };

export function withContext(lines: DiffLine[], context = 3): Hunk[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.kind !== "same")
      for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out: Hunk[] = [];
  let skipped = 0;
  lines.forEach((l, i) => {
    if (keep[i]) {
      if (skipped) out.push({ kind: "skip", count: skipped });
      skipped = 0;
      out.push(l);
    } else skipped++;
  });
  if (skipped) out.push({ kind: "skip", count: skipped });
  return out;
}
