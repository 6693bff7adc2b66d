import { describe, expect, test } from "bun:test";
import { configFromEnv, jobName, makeHandler, parseRunRequest } from "../src/app.ts";

const config = configFromEnv({ AGENTRUN_LANE: "v0.1", AGENTRUN_NAMESPACE: "agentrun-v01" });
const handle = makeHandler(config, () => "abc12345");

describe("health", () => {
  test("GET /health answers ok with the lane", async () => {
    const res = await handle(new Request("http://mgr/health"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", service: "agentrun-mgr", lane: "v0.1" });
  });

  test("an unknown path is 404", async () => {
    const res = await handle(new Request("http://mgr/nope"));
    expect(res.status).toBe(404);
  });
});

describe("runs", () => {
  test("POST /runs accepts a task and names its Job", async () => {
    const res = await handle(
      new Request("http://mgr/runs", { method: "POST", body: JSON.stringify({ task: "fix the build" }) }),
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      id: "abc12345",
      job: "agentrun-runner-abc12345",
      namespace: "agentrun-v01",
      task: "fix the build",
    });
  });

  test("the manager schema rejects unknown fields and empty tasks", () => {
    expect(parseRunRequest({ task: "x", image: "evil" })).toEqual({ ok: false, error: "unknown field 'image'" });
    expect(parseRunRequest({ task: " " }).ok).toBe(false);
    expect(parseRunRequest([]).ok).toBe(false);
    expect(parseRunRequest({ task: "x", repo: "r" })).toEqual({ ok: true, value: { task: "x", repo: "r" } });
  });

  test("a body that is not JSON is 400", async () => {
    const res = await handle(new Request("http://mgr/runs", { method: "POST", body: "{" }));
    expect(res.status).toBe(400);
  });

  test("Job names stay within 63 characters", () => {
    expect(jobName("agentrun-runner", "x".repeat(80)).length).toBe(63);
  });
});
