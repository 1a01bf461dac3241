// A separate Node process appending to a file thread: node file-writer.js
// <directory> <threadId> <tag> <count> [maxMessages]. Prints "acked <text>" after each
// acknowledged append, so a parent can kill it mid-write and check that
// every acknowledged message is there.
import { FileChatMessageStore } from '../../../js/node.js';

const [directory, threadId, tag, count, maxMessages] = process.argv.slice(2);
const store = new FileChatMessageStore({ directory, threadId, maxMessages: maxMessages ? Number(maxMessages) : undefined });
for (let i = 0; i < Number(count); i++) {
  // Records of many sizes, so that the file's size says little of its records.
  const text = `${tag}${i}${'_'.repeat((i * 13) % 50)}`;
  await store.addMessages([{ role: 'user', text }]);
  process.stdout.write(`acked ${text}\n`);
}
store.close();
