// agentrun-mgr entrypoint: serve the manager on PORT (default 8080).
import { configFromEnv, makeHandler } from "./app.ts";

const config = configFromEnv(process.env);
const port = Number(process.env.PORT ?? "8080");
const server = Bun.serve({ port, hostname: process.env.HOST ?? "0.0.0.0", fetch: makeHandler(config) });
console.log(JSON.stringify({ msg: "agentrun-mgr listening", port: server.port, lane: config.lane }));

// As PID 1 of its container the process gets no default signal handling: without this the
// kubelet waits the whole grace period (30 s) before it kills the pod on every rollout.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    console.log(JSON.stringify({ msg: "agentrun-mgr stopping", signal }));
    server.stop();
    process.exit(0);
  });
}
