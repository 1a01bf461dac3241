// What the browser pages do with the package, handed its exports: tokens,
// windows and an agent whose thread remembers and resumes. The result, or the
// error, is written into #result for the test to read.

async function exercise({ ChatAgent, Tokenizer, countTokens, fitWindow }) {
  const tok = await Tokenizer.load('o200k_base');
  const ids = [...tok.encode('Hello, world!')];
  const cl = (await Tokenizer.load('cl100k_base')).count('Hello, world!');
  const chat = await countTokens([{ role: 'user', text: 'hi' }]);
  const turns = [{ role: 'user', text: 'a' }, { role: 'assistant', text: 'b' }, { role: 'user', text: 'c' }];
  const window = (await fitWindow(turns, { maxTokens: 12 })).messages.map((m) => m.text);

  // A model inside the page: it says how many messages it was sent.
  const chatClient = {
    getResponse: async (body) => {
      const content = `seen ${JSON.parse(body).messages.length}`;
      return JSON.stringify({ id: 'r', choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }] });
    },
  };
  const agent = new ChatAgent({ chatClient });
  const thread = agent.getNewThread();
  const replies = [(await agent.run('one', { thread })).text, (await agent.run('two', { thread })).text];
  const resumed = await agent.deserializeThread(await thread.serialize());
  replies.push((await agent.run('three', { thread: resumed })).text);
  agent.close();
  return { ids, cl, chat, window, replies };
}

export function report(api) {
  const out = document.getElementById('result');
  exercise(api).then(
    (r) => (out.textContent = JSON.stringify(r)),
    (err) => (out.textContent = `error: ${err && err.stack ? err.stack : err}`),
  );
}
