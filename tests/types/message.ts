// Messages and their contents, as a user writes and reads them (type-checked only).
import { ChatMessage, ChatMessageStore } from 'threadmem';
import type { Annotation, Content } from 'threadmem';

const cited: Content = {
  type: 'text',
  text: 'Oslo is the capital of Norway.',
  annotations: [{ type: 'citation', url: 'https://example.org/oslo', title: 'Oslo' }],
  additional_properties: { source: 'search' },
};
const call: Content = { type: 'function_call', call_id: 'c1', name: 'lookup', arguments: { q: 'Oslo' } };
const message = new ChatMessage('assistant', [cited, call]);

const store = new ChatMessageStore();
await store.addMessages([message, { role: 'tool', content: [{ type: 'function_result', call_id: 'c1', result: 42 }] }]);
for (const m of await store.listMessages()) {
  for (const c of m.contents) {
    // The type names the kind: a text content has its text, a call its name.
    if (c.type === 'text') console.log(c.text.length);
    if (c.type === 'function_call') console.log(c.name, c.call_id);
    const annotations: Annotation[] = c.annotations ?? [];
    console.log(annotations.map((a) => a.type));
  }
}

// @ts-expect-error: a content of no known kind
const unknownKind: Content = { type: 'video', uri: 'x' };
// @ts-expect-error: a text content needs its text
const noText: Content = { type: 'text' };
// @ts-expect-error: annotations are a list
const notAList: Content = { type: 'text', text: 'x', annotations: { type: 'citation' } };
console.log(unknownKind, noText, notAList);
