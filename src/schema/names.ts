/** A tool name as LLM APIs accept it: letters, digits, '_' and '-' (`vector.topk` -> `vector_topk`). */
export const llmToolName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, '_');
