// A fake code-agent app-server for the tests: answers `run` with the prompt reversed, fails
// a prompt of "boom", ignores blank lines, exits at the end of stdin.
const decoder = new TextDecoder();
let buffered = "";
for await (const chunk of Bun.stdin.stream()) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim() === "") continue;
    const req = JSON.parse(line) as { id: number; method: string; params: { prompt: string } };
    const reply =
      req.method !== "run"
        ? { id: req.id, error: { message: `unknown method ${req.method}` } }
        : req.params.prompt === "boom"
          ? { id: req.id, error: { message: "agent failed" } }
          : { id: req.id, result: { output: [...req.params.prompt].reverse().join("") } };
    process.stdout.write(JSON.stringify(reply) + "\n");
  }
}
