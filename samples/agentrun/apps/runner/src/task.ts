// agentrun-runner: one AgentRun task as a Kubernetes Job. The task comes from AGENTRUN_TASK
// (JSON); the result is one JSON line on stdout and the exit code (0 done, 1 failed, 2 bad input).

export interface Task {
  id: string;
  steps: string[];
}

export interface Result {
  id: string;
  status: "done" | "failed";
  steps: { name: string; ok: boolean }[];
}

export function parseTask(text: string | undefined): Task {
  if (text === undefined || text.trim() === "") throw new Error("AGENTRUN_TASK is not set");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error("AGENTRUN_TASK is not JSON");
  }
  if (typeof v !== "object" || v === null) throw new Error("AGENTRUN_TASK must be an object");
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || !/^[a-z0-9-]{1,40}$/.test(o.id)) throw new Error("task id must match [a-z0-9-]{1,40}");
  if (!Array.isArray(o.steps) || !o.steps.every((s) => typeof s === "string")) {
    throw new Error("task steps must be a list of strings");
  }
  return { id: o.id, steps: o.steps as string[] };
}

/// Runs the task's steps in order; a step named `fail` fails, and the steps after it do not run.
export function runTask(task: Task): Result {
  const steps: { name: string; ok: boolean }[] = [];
  for (const name of task.steps) {
    const ok = name !== "fail";
    steps.push({ name, ok });
    if (!ok) return { id: task.id, status: "failed", steps };
  }
  return { id: task.id, status: "done", steps };
}
