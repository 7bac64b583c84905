import { createInterface } from 'node:readline';

/**
 * Read a password: on a terminal, prompt on stderr without echo and ask twice; from a
 * pipe (scripts), read one line from stdin. The password never goes to argv, where
 * `ps` and shell history would show it.
 */
export async function readPassword(prompt = 'New password: '): Promise<string> {
  if (!process.stdin.isTTY) return readLine();
  const first = await promptHidden(prompt);
  const again = await promptHidden('Re-type new password: ');
  if (first !== again) throw new Error('the passwords do not match');
  return first;
}

async function readLine(): Promise<string> {
  let data = '';
  for await (const chunk of process.stdin) {
    data += (chunk as Buffer).toString('utf8');
    const nl = data.indexOf('\n');
    if (nl >= 0) return data.slice(0, nl).replace(/\r$/, '');
  }
  return data.replace(/\r$/, '');
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // Echo nothing but the prompt itself (readline writes each typed key through this).
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WritableStream };
    out._writeToOutput = (s: string) => {
      if (s.includes(prompt)) out.output.write(prompt);
    };
    rl.question(prompt, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new Error('interrupted'));
    });
  });
}
