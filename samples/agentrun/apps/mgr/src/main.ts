// agentrun-mgr entrypoint: serve the manager on PORT (default 8080).
import { configFromEnv, makeHandler } from "./app.ts";

const config = configFromEnv(process.env);
const port = Number(process.env.PORT ?? "8080");
const server = Bun.serve({ port, hostname: process.env.HOST ?? "0.0.0.0", fetch: makeHandler(config) });
console.log(JSON.stringify({ msg: "agentrun-mgr listening", port: server.port, lane: config.lane }));
