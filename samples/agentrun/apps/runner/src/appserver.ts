// A client for a code-agent app-server that speaks JSON lines over stdio: one request
// `{"id", "method", "params"}` per line in, one response `{"id", "result"}` or
// `{"id", "error"}` per line out: the adapter a runner drives its code agent with. The tests
// drive a fake app-server (test/fake-app-server.ts) through it, and a mock stands in for it.

export interface AgentAdapter {
  run(prompt: string): Promise<string>;
  close(): Promise<void>;
}

type Response = { id: number; result?: { output: string }; error?: { message: string } };

export class StdioAppServerClient implements AgentAdapter {
  private proc;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  private reading: Promise<void>;
  // Set once the app-server's stdout has ended: a request made after that fails at once
  // instead of waiting for an answer that cannot come.
  private exited = false;

  constructor(argv: string[]) {
    this.proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.reading = this.readLines();
  }

  private async readLines(): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== "") this.dispatch(line);
      }
    }
    this.exited = true;
    for (const p of this.pending.values()) p.reject(new Error("app-server exited"));
    this.pending.clear();
  }

  private dispatch(line: string): void {
    let msg: Response;
    try {
      msg = JSON.parse(line) as Response;
    } catch {
      return; // not a protocol line
    }
    const p = this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result?.output ?? "");
  }

  run(prompt: string): Promise<string> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error("app-server exited"));
        return;
      }
      this.pending.set(id, { resolve, reject });
      try {
        this.proc.stdin.write(JSON.stringify({ id, method: "run", params: { prompt } }) + "\n");
        const flushed = this.proc.stdin.flush();
        // A pipe that closes while flushing: the reader rejects the request when stdout ends.
        if (flushed instanceof Promise) flushed.catch(() => {});
      } catch {
        // The pipe closed under us: the app-server is gone (the reader rejects the rest).
        this.pending.delete(id);
        reject(new Error("app-server exited"));
      }
    });
  }

  async close(): Promise<void> {
    this.proc.stdin.end();
    await this.reading;
    await this.proc.exited;
  }
}
