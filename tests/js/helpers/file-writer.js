// A separate Node process appending to a file thread: node file-writer.js
// <directory> <threadId> <tag> <count>. Prints "acked <tag><i>" after each
// acknowledged append, so a parent can kill it mid-write and check that
// every acknowledged message is there.
import { FileChatMessageStore } from '../../../js/node.js';

const [directory, threadId, tag, count] = process.argv.slice(2);
const store = new FileChatMessageStore({ directory, threadId });
for (let i = 0; i < Number(count); i++) {
  await store.addMessages([{ role: 'user', text: `${tag}${i}` }]);
  process.stdout.write(`acked ${tag}${i}\n`);
}
store.close();
