// Test support: deterministic damage to policy text, the kind an editor's keystrokes and a
// careless generator make (words dropped, doubled, swapped or misspelt, stray characters, lists
// broken over lines, bad numbers and addresses, unterminated strings, lines joined or cut). The
// front end's equivalence tests run the same damaged files through two paths and compare.

/** A linear congruential generator: the same seed gives the same edits on every machine. */
export function createRandom(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
}

const STRAY_CHARACTERS = [';', '-', "'", '[', ']', '(', ')', '%', '!', '*', '@', '$', '\t', '\u0007'];
const WORDS = ['accept', 'from', 'to', 'port', 'porta', 'any4', 'any6', 'except', '{', '}', ',', ':', 'icmp', 'tcp', 'log', 'deny', 'policy', 'set', 'x', '80to', '1-2-3', 'expires', '2027-01-01', '"text"', '=', '/'];

/** One line, damaged in one of several ways (`random` picks which and where). */
export function mutateLine(line: string, random: (n: number) => number): string {
  const indent = /^\s*/.exec(line)![0];
  const words = line.trim().split(/\s+/);
  const at = random(words.length);
  switch (random(14)) {
    case 0:
      words.splice(at, 1);
      break;
    case 1:
      words.splice(at, 0, words[at]!);
      break;
    case 2: {
      const chars = line.split('');
      chars.splice(indent.length + random(line.length - indent.length + 1), 0, STRAY_CHARACTERS[random(STRAY_CHARACTERS.length)]!);
      return chars.join('');
    }
    case 3:
      if (at + 1 < words.length) [words[at], words[at + 1]] = [words[at + 1]!, words[at]!];
      break;
    case 4:
      words[at] = WORDS[random(WORDS.length)]!;
      break;
    case 5:
      words.length = Math.max(1, at);
      break;
    case 6:
      words[at] = `{ ${words[at]},\n${indent}    ${words[at]} }`;
      break;
    case 7:
      words.push(random(2) === 0 ? '"unterminated' : '"bad \\q escape"');
      break;
    case 8:
      words[at] = words[at]!.replace(/[0-9]+/, () => ['99999', '0', '65536', '300', '4294967296'][random(5)]!);
      break;
    case 9:
      words[at] = words[at]!.replace(/\/[0-9]+/, () => ['/40', '/0', '/33', '/129'][random(4)]!);
      break;
    case 10:
      words.splice(at, 0, '{');
      break;
    case 11:
      return `${line}\n${indent}${words.slice(at).join(' ')}`;
    case 12:
      words.splice(at, 0, 'except', '{ 10.0.0.0/8 }');
      break;
    default:
      words.push(random(2) === 0 ? `"described ${at}"` : `expires 2030-0${1 + random(9)}-1${random(9)}`);
  }
  return indent + words.join(' ');
}

/**
 * `text` with about `rate` of its lines damaged by `mutateLine`, and one structural change of
 * the file (a policy block's `}` dropped, a declaration or block header inserted mid-block, two
 * lines joined), picked by `seed`.
 */
export function mutatePolicy(text: string, seed: number, rate: number): string {
  const random = createRandom(seed);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '' && random(1000) < rate * 1000) lines[i] = mutateLine(lines[i]!, random);
  }
  const at = 1 + random(Math.max(1, lines.length - 2));
  switch (random(5)) {
    case 0: {
      const close = lines.lastIndexOf('}');
      if (close >= 0) lines.splice(close, 1);
      break;
    }
    case 1:
      lines.splice(at, 0, 'set inserted = { 10.1.0.0/16, 10.2.0.0/16 }');
      break;
    case 2:
      lines.splice(at, 0, '}', 'policy egress default allow {');
      break;
    case 3:
      lines.splice(at, 2, `${lines[at] ?? ''} ${lines[at + 1] ?? ''}`);
      break;
    default:
      lines.splice(at, 0, '  # a comment in the middle', '');
  }
  return lines.join('\n');
}
