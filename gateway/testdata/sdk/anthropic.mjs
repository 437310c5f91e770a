// A client of the gateway made with the official Anthropic SDK. Configured
// only by the SDK's own variables: ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY
// (sent as x-api-key) or ANTHROPIC_AUTH_TOKEN (sent as a Bearer token).
import Anthropic from '@anthropic-ai/sdk';
import { VERSION } from '@anthropic-ai/sdk/version';

const model = process.env.MODEL || 'claude-test';
const client = new Anthropic({ maxRetries: Number(process.env.MAX_RETRIES ?? 2) });
const params = { model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] };
const out = { sdk: 'anthropic', version: VERSION };
try {
  const r = await client.messages.create(params);
  out.text = r.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  const stream = await client.messages.create({ ...params, stream: true });
  out.stream_text = '';
  out.stream_events = 0;
  for await (const ev of stream) {
    out.stream_events++;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') out.stream_text += ev.delta.text;
  }
} catch (e) {
  out.error = { status: e.status ?? null, name: e.constructor.name, message: String(e.message) };
}
console.log(JSON.stringify(out));
