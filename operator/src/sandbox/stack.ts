/**
 * Stack trimming for errors raised by user code: keeps the header (name and message)
 * and the frames in the revision's own modules, drops the prelude's and isolated-vm's.
 */

const FRAME = /^\s*at (?:.*?\()?([^()\s]+?):(\d+):(\d+)\)?\s*$/;

/** The stack with only frames located in one of `files`; the header lines stay. */
export function trimStack(stack: string, files: ReadonlySet<string>): string {
  const lines = stack.split("\n");
  return lines
    .filter((line) => {
      if (!/^\s*at /.test(line)) return true;
      const file = FRAME.exec(line)?.[1];
      return file !== undefined && files.has(file);
    })
    .join("\n");
}

/** `file:line:column` of the first user frame of `stack`, if any. */
export function firstUserFrame(stack: string, files: ReadonlySet<string>): string | undefined {
  for (const line of stack.split("\n")) {
    const match = FRAME.exec(line);
    if (match?.[1] !== undefined && files.has(match[1])) return `${match[1]}:${match[2]}:${match[3]}`;
  }
  return undefined;
}
