import { expect, test } from "bun:test";

// The entrypoint answers /health, then stops at once on SIGTERM (a rollout must not wait the
// pod's whole grace period).
test("main serves /health and exits 0 on SIGTERM", async () => {
  const proc = Bun.spawn(["bun", "run", "src/main.ts"], {
    cwd: `${import.meta.dir}/..`,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", AGENTRUN_LANE: "v0.1" },
    stdout: "pipe",
  });
  const reader = proc.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const port = JSON.parse(first.split("\n")[0] ?? "{}").port as number;
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  expect(res.status).toBe(200);
  const started = Date.now();
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  expect(Date.now() - started).toBeLessThan(5000);
});
