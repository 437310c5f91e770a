// A client of the gateway made with the official OpenAI SDK. Configured
// only by the SDK's own variables: OPENAI_BASE_URL and OPENAI_API_KEY.
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const model = process.env.MODEL || 'gpt-test';
const client = new OpenAI({ maxRetries: Number(process.env.MAX_RETRIES ?? 2) });
const messages = [{ role: 'user', content: 'Say hello.' }];
const out = { sdk: 'openai', version: VERSION };
try {
  const r = await client.chat.completions.create({ model, messages });
  out.text = r.choices[0].message.content;
  const stream = await client.chat.completions.create({ model, messages, stream: true });
  out.stream_text = '';
  out.stream_events = 0;
  for await (const chunk of stream) {
    out.stream_events++;
    out.stream_text += chunk.choices[0]?.delta?.content ?? '';
  }
} catch (e) {
  out.error = { status: e.status ?? null, name: e.constructor.name, message: String(e.message) };
}
console.log(JSON.stringify(out));
