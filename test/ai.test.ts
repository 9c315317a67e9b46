/** toolbridge/ai with the AI SDK's own generateText and its mock language model. */
import { generateText, stepCountIs } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBridge, type Bridge } from 'toolbridge';
import { aiTools } from 'toolbridge/ai';
import { fixture } from './helpers.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge({ maxThreads: 1, tools: [fixture('schema-tools.js'), fixture('remote-tools.js')] });
});
afterAll(() => bridge.close());

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

/** A model that calls `toolName` with `input` (JSON text) first, then answers "done". */
function modelCalling(toolName: string, input: string) {
  return new MockLanguageModelV4({
    doGenerate: [
      {
        content: [{ type: 'tool-call', toolCallId: 'call-1', toolName, input }],
        finishReason: { unified: 'tool-calls', raw: undefined },
        usage,
        warnings: [],
      },
      {
        content: [{ type: 'text', text: 'done' }],
        finishReason: { unified: 'stop', raw: undefined },
        usage,
        warnings: [],
      },
    ] as never,
  });
}

describe('aiTools', () => {
  test('offers the tools under LLM-safe names, with descriptions and input schemas', () => {
    const tools = aiTools(bridge);
    expect(Object.keys(tools)).toEqual(expect.arrayContaining(['vector_dot', 'vector_topk', 'schema_search']));
    expect(Object.keys(aiTools(bridge, { include: ['vector.dot'] }))).toEqual(['vector_dot']);
    expect(Object.keys(aiTools(bridge, { include: (t) => t.name.startsWith('frame.') })).sort()).toEqual([
      'frame_describe',
      'frame_groupby',
    ]);
  });

  test('generateText calls a toolbridge tool and gets its result', async () => {
    const result = await generateText({
      model: modelCalling('vector_dot', JSON.stringify({ a: [1, 2], b: [3, 4] })),
      tools: aiTools(bridge),
      prompt: 'dot product please',
      stopWhen: stepCountIs(3),
    });
    expect(result.steps[0]!.toolResults).toEqual([expect.objectContaining({ toolName: 'vector_dot', output: 11 })]);
    expect(result.text).toBe('done');
  });

  test('an invalid input becomes a tool error, and the tool never runs', async () => {
    const tasks = () => bridge.stats().memory.workers.reduce((n, w) => n + w.tasks, 0);
    const before = tasks();
    const result = await generateText({
      model: modelCalling('schema_search', JSON.stringify({ query: [1, 2], k: 0 })),
      tools: aiTools(bridge),
      prompt: 'search',
      stopWhen: stepCountIs(3),
    });
    const first = result.steps[0]!;
    expect(first.toolResults).toEqual([]);
    const error = first.content.find((part) => part.type === 'tool-error') as { error?: unknown } | undefined;
    expect(error).toBeDefined();
    expect(String((error!.error as Error)?.message ?? error!.error)).toContain('args.k: must be >= 1');
    expect(tasks()).toBe(before);
  });

  test("execute forwards the AI SDK's abort signal to the bridge call", async () => {
    const wait = aiTools(bridge, { include: ['remote.wait'] }).remote_wait!;
    const controller = new AbortController();
    const running = wait.execute!({ ms: 20_000 }, {
      abortSignal: controller.signal,
      toolCallId: 'c',
      messages: [],
    } as never);
    setTimeout(() => controller.abort(), 100);
    await expect(running).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await bridge.call('remote.aborted')).toBe(1);
  });
});
