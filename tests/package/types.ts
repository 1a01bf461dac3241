// The package's types as a TypeScript project finds them once installed:
// compiled by run.sh with Node's resolution, old (node10) and new
// (nodenext), and without the DOM library, as a Node program has it.
import { ChatAgent, OpenAIChatClient, type PersistentChatMessageStore } from 'threadmem';
import { FileChatMessageStore } from 'threadmem/node';

const store: PersistentChatMessageStore = new FileChatMessageStore({ directory: './threads', encryption: { key: 'a passphrase' } });
export const agent = new ChatAgent({ chatClient: new OpenAIChatClient({}), chatMessageStoreFactory: () => store });
