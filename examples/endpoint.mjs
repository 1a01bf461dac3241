// The model the examples talk to: any OpenAI-compatible endpoint, from
// OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_API_KEY and
// OPENAI_MODEL (default gpt-4o-mini).

import { OpenAIChatClient } from 'threadmem';

export const chatClient = new OpenAIChatClient({
  baseURL: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
  apiKey: process.env.OPENAI_API_KEY,
  model: process.env.OPENAI_MODEL ?? 'gpt-4o-mini',
});
