/** Splits a label file's text into labels: one a line, with blank lines at the end dropped. */
export function parseLabelLines(text: string): string[] {
  const labels = text.split(/\r?\n/);
  while (labels.length > 0 && labels[labels.length - 1].trim() === '') labels.pop();
  return labels;
}
