import { describe, expect, test } from "bun:test";
import { type AgentAdapter, StdioAppServerClient } from "../src/appserver.ts";

describe("the stdio app-server client", () => {
  test("runs prompts against a fake app-server over JSON lines", async () => {
    const client = new StdioAppServerClient([process.execPath, "test/fake-app-server.ts"]);
    expect(await client.run("abc")).toBe("cba");
    const [a, b] = await Promise.all([client.run("one"), client.run("two")]);
    expect([a, b]).toEqual(["eno", "owt"]);
    await expect(client.run("boom")).rejects.toThrow("agent failed");
    await client.close();
  });

  test("a pending request fails when the app-server exits", async () => {
    const client = new StdioAppServerClient([process.execPath, "-e", "process.exit(0)"]);
    await expect(client.run("x")).rejects.toThrow("app-server exited");
    await client.close();
  });

  test("a request after the app-server exited fails at once", async () => {
    const client = new StdioAppServerClient([process.execPath, "-e", "process.exit(0)"]);
    // Long enough for the app-server to be gone and its stdout to have ended.
    await Bun.sleep(500);
    await expect(client.run("x")).rejects.toThrow("app-server exited");
    await client.close();
  });
});

describe("an adapter mock", () => {
  test("stands in for the agent where no app-server runs", async () => {
    const calls: string[] = [];
    const mock: AgentAdapter = {
      run: async (prompt) => {
        calls.push(prompt);
        return `done: ${prompt}`;
      },
      close: async () => {},
    };
    expect(await mock.run("fix the build")).toBe("done: fix the build");
    expect(calls).toEqual(["fix the build"]);
  });
});
