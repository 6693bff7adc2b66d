// agentrun-mgr: the AgentRun manager's HTTP surface. `handle` is a plain Request → Response
// function so the tests call it without a socket; src/main.ts serves it with Bun.serve.

export interface Config {
  lane: string;
  namespace: string;
  runnerTemplate: string;
}

export interface RunRequest {
  task: string;
  repo?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function configFromEnv(env: Record<string, string | undefined>): Config {
  return {
    lane: env.AGENTRUN_LANE ?? "dev",
    namespace: env.AGENTRUN_NAMESPACE ?? "default",
    runnerTemplate: env.AGENTRUN_RUNNER_TEMPLATE ?? "agentrun-runner",
  };
}

/// The manager schema for a new run: `task` is required, `repo` optional, nothing else.
export function parseRunRequest(body: unknown): Parsed<RunRequest> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: "body must be a JSON object" };
  }
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== "task" && key !== "repo") {
      return { ok: false, error: `unknown field '${key}'` };
    }
  }
  if (typeof o.task !== "string" || o.task.trim() === "") {
    return { ok: false, error: "'task' must be a non-empty string" };
  }
  if (o.task.length > 4096) {
    return { ok: false, error: "'task' is longer than 4096 characters" };
  }
  if (o.repo !== undefined && typeof o.repo !== "string") {
    return { ok: false, error: "'repo' must be a string" };
  }
  return { ok: true, value: o.repo === undefined ? { task: o.task } : { task: o.task, repo: o.repo } };
}

/// The Job name a run gets: the runner template's name and a short id.
export function jobName(template: string, id: string): string {
  return `${template}-${id}`.toLowerCase().slice(0, 63);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function makeHandler(config: Config, newId: () => string = () => crypto.randomUUID().slice(0, 8)) {
  return async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method not allowed" });
      return json(200, { status: "ok", service: "agentrun-mgr", lane: config.lane });
    }
    if (url.pathname === "/runs") {
      if (req.method !== "POST") return json(405, { error: "method not allowed" });
      let body: unknown;
      try {
        body = await req.json();
      } catch {
        return json(400, { error: "body is not JSON" });
      }
      const parsed = parseRunRequest(body);
      if (!parsed.ok) return json(422, { error: parsed.error });
      const id = newId();
      return json(202, {
        id,
        job: jobName(config.runnerTemplate, id),
        namespace: config.namespace,
        task: parsed.value.task,
      });
    }
    return json(404, { error: "not found" });
  };
}
