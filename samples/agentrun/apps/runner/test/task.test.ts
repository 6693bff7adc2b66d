import { describe, expect, test } from "bun:test";
import { parseTask, runTask } from "../src/task.ts";

describe("parseTask", () => {
  test("reads a task", () => {
    expect(parseTask('{"id":"t-1","steps":["clone","build"]}')).toEqual({ id: "t-1", steps: ["clone", "build"] });
  });

  test("rejects missing, malformed and hostile input", () => {
    expect(() => parseTask(undefined)).toThrow("AGENTRUN_TASK is not set");
    expect(() => parseTask("{")).toThrow("not JSON");
    expect(() => parseTask('{"id":"../x","steps":[]}')).toThrow("task id");
    expect(() => parseTask('{"id":"t","steps":[1]}')).toThrow("steps");
  });
});

describe("runTask", () => {
  test("runs every step", () => {
    expect(runTask({ id: "t", steps: ["a", "b"] })).toEqual({
      id: "t",
      status: "done",
      steps: [
        { name: "a", ok: true },
        { name: "b", ok: true },
      ],
    });
  });

  test("stops at the first failing step", () => {
    const r = runTask({ id: "t", steps: ["a", "fail", "b"] });
    expect(r.status).toBe("failed");
    expect(r.steps.map((s) => s.name)).toEqual(["a", "fail"]);
  });
});

describe("the Job entrypoint", () => {
  test("prints one JSON line and exits by the result", async () => {
    const run = (task: string) =>
      Bun.spawnSync([process.execPath, "src/main.ts"], { env: { AGENTRUN_TASK: task, AGENTRUN_LANE: "v0.1" } });
    const ok = run('{"id":"t","steps":["a"]}');
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(ok.stdout.toString())).toEqual({ id: "t", status: "done", steps: [{ name: "a", ok: true }], lane: "v0.1" });
    expect(run('{"id":"t","steps":["fail"]}').exitCode).toBe(1);
    expect(run("nope").exitCode).toBe(2);
  });
});
