//! A small backtracking matcher for the `pattern`s of CRD schemas (Go RE2 syntax:
//! literals, `.`, classes, `\d \w \s`, anchors, groups, alternation and the usual
//! quantifiers). Patterns it cannot parse compile to `None` and are not enforced;
//! matching gives up (counting as a match) past a step budget, so no pattern can stall
//! a request.

use std::cell::Cell;

/// A compiled pattern.
#[derive(Debug)]
pub struct Regex {
    root: Node,
}

#[derive(Debug)]
enum Node {
    Char(char),
    Any,
    Class(Vec<Item>, bool),
    Start,
    End,
    WordBoundary(bool),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

#[derive(Debug)]
enum Item {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

impl Item {
    fn matches(&self, c: char) -> bool {
        match *self {
            Item::Range(a, b) => a <= c && c <= b,
            Item::Digit(neg) => c.is_ascii_digit() != neg,
            Item::Word(neg) => is_word(c) != neg,
            Item::Space(neg) => matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ') != neg,
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// How many matching steps one value may take.
const BUDGET: u32 = 200_000;
/// How deep matching may recurse (a level or two per character matched).
const MAX_DEPTH: u32 = 1_000;

impl Regex {
    /// Compiles `pattern`; `None` for syntax this matcher does not support.
    pub fn new(pattern: &str) -> Option<Regex> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser { s: &chars, i: 0 };
        let root = p.alternation()?;
        (p.i == chars.len()).then_some(Regex { root })
    }

    /// Whether the pattern matches anywhere in `text` (as Go's `MatchString`).
    pub fn is_match(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        let m = Matcher {
            s: &s,
            steps: Cell::new(0),
            depth: Cell::new(0),
        };
        for start in 0..=s.len() {
            if m.node(&self.root, start, &mut |_| true) {
                return true;
            }
            if m.steps.get() > BUDGET {
                return true;
            }
        }
        false
    }
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Option<Node> {
        let mut alts = vec![self.concat()?];
        while self.eat('|') {
            alts.push(self.concat()?);
        }
        Some(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Option<Node> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            seq.push(self.quantified(atom)?);
        }
        Some(Node::Concat(seq))
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (min, max) = match self.peek() {
            Some('{') => match self.counts() {
                Some(range) => range,
                None => return Some(atom),
            },
            Some(c @ ('*' | '+' | '?')) => {
                self.i += 1;
                match c {
                    '*' => (0, None),
                    '+' => (1, None),
                    _ => (0, Some(1)),
                }
            }
            _ => return Some(atom),
        };
        let greedy = !self.eat('?');
        if matches!(atom, Node::Start | Node::End | Node::WordBoundary(_))
            || min > 1000
            || max.is_some_and(|m| m < min || m > 1000)
        {
            return None;
        }
        Some(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    /// `{n}`, `{n,}` or `{n,m}` (consumed); `None` (nothing consumed) otherwise.
    fn counts(&mut self) -> Option<(u32, Option<u32>)> {
        let rest: String = self.s[self.i..].iter().collect();
        let end = rest.find('}')?;
        let inner = &rest[1..end];
        let (min, max) = match inner.split_once(',') {
            None => {
                let n = inner.parse().ok()?;
                (n, Some(n))
            }
            Some((a, "")) => (a.parse().ok()?, None),
            Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
        };
        self.i += rest[..=end].chars().count();
        Some((min, max))
    }

    fn atom(&mut self) -> Option<Node> {
        let c = self.peek()?;
        self.i += 1;
        Some(match c {
            '(' => {
                if self.eat('?') {
                    // Only non-capturing and named groups; flags are not supported.
                    if self.eat(':') {
                    } else if self.eat('P') || self.peek() == Some('<') {
                        self.eat('<').then_some(())?;
                        while self.peek().is_some_and(|c| c != '>') {
                            self.i += 1;
                        }
                        self.eat('>').then_some(())?;
                    } else {
                        return None;
                    }
                }
                let inner = self.alternation()?;
                self.eat(')').then_some(inner)?
            }
            '[' => self.class()?,
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '\\' => self.escape()?,
            '*' | '+' | '?' | ')' => return None,
            c => Node::Char(c),
        })
    }

    fn escape(&mut self) -> Option<Node> {
        let c = self.peek()?;
        self.i += 1;
        Some(match c {
            'b' => Node::WordBoundary(false),
            'B' => Node::WordBoundary(true),
            'A' => Node::Start,
            'z' => Node::End,
            _ => match self.class_escape(c)? {
                Item::Range(a, _) => Node::Char(a),
                item => Node::Class(vec![item], false),
            },
        })
    }

    /// An escape usable both alone and inside a class.
    fn class_escape(&mut self, c: char) -> Option<Item> {
        Some(match c {
            'd' => Item::Digit(false),
            'D' => Item::Digit(true),
            'w' => Item::Word(false),
            'W' => Item::Word(true),
            's' => Item::Space(false),
            'S' => Item::Space(true),
            'n' => Item::Range('\n', '\n'),
            't' => Item::Range('\t', '\t'),
            'r' => Item::Range('\r', '\r'),
            'f' => Item::Range('\x0c', '\x0c'),
            'v' => Item::Range('\x0b', '\x0b'),
            'x' => {
                let hex: String = self.s.get(self.i..self.i + 2)?.iter().collect();
                let code = u32::from_str_radix(&hex, 16).ok()?;
                self.i += 2;
                let ch = char::from_u32(code)?;
                Item::Range(ch, ch)
            }
            c if c.is_ascii_punctuation() => Item::Range(c, c),
            _ => return None,
        })
    }

    fn class(&mut self) -> Option<Node> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let c = self.peek()?;
            self.i += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            if c == '[' && self.peek() == Some(':') {
                return None;
            }
            let item = if c == '\\' {
                let e = self.peek()?;
                self.i += 1;
                self.class_escape(e)?
            } else {
                Item::Range(c, c)
            };
            match item {
                Item::Range(a, _)
                    if self.peek() == Some('-') && self.s.get(self.i + 1) != Some(&']') =>
                {
                    self.i += 1;
                    let mut b = self.peek()?;
                    self.i += 1;
                    if b == '\\' {
                        let e = self.peek()?;
                        self.i += 1;
                        match self.class_escape(e)? {
                            Item::Range(x, _) => b = x,
                            _ => return None,
                        }
                    }
                    if b < a {
                        return None;
                    }
                    items.push(Item::Range(a, b));
                }
                item => items.push(item),
            }
        }
        Some(Node::Class(items, negated))
    }
}

struct Matcher<'a> {
    s: &'a [char],
    steps: Cell<u32>,
    depth: Cell<u32>,
}

type Next<'a> = &'a mut dyn FnMut(usize) -> bool;

impl Matcher<'_> {
    fn node(&self, n: &Node, i: usize, k: Next) -> bool {
        self.steps.set(self.steps.get() + 1);
        if self.steps.get() > BUDGET || self.depth.get() > MAX_DEPTH {
            // Give up: `is_match` counts it as a match.
            self.steps.set(BUDGET + 1);
            return false;
        }
        self.depth.set(self.depth.get() + 1);
        let matched = self.step(n, i, k);
        self.depth.set(self.depth.get() - 1);
        matched
    }

    fn step(&self, n: &Node, i: usize, k: Next) -> bool {
        let at = self.s.get(i).copied();
        match n {
            Node::Char(c) => at == Some(*c) && k(i + 1),
            Node::Any => at.is_some_and(|c| c != '\n') && k(i + 1),
            Node::Class(items, negated) => {
                at.is_some_and(|c| items.iter().any(|it| it.matches(c)) != *negated) && k(i + 1)
            }
            Node::Start => i == 0 && k(i),
            Node::End => i == self.s.len() && k(i),
            Node::WordBoundary(negated) => {
                let before = i > 0 && is_word(self.s[i - 1]);
                let after = at.is_some_and(is_word);
                (before != after) != *negated && k(i)
            }
            Node::Concat(seq) => self.seq(seq, i, k),
            Node::Alt(alts) => alts.iter().any(|a| self.node(a, i, k)),
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => self.repeat(node, *min, *max, *greedy, i, 0, k),
        }
    }

    fn seq(&self, seq: &[Node], i: usize, k: Next) -> bool {
        match seq.split_first() {
            None => k(i),
            Some((first, rest)) => self.node(first, i, &mut |j| self.seq(rest, j, k)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        n: &Node,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        i: usize,
        count: u32,
        k: Next,
    ) -> bool {
        let more = |k: Next| {
            max.is_none_or(|m| count < m)
                && self.node(n, i, &mut |j| {
                    (j != i || count < min) && self.repeat(n, min, max, greedy, j, count + 1, k)
                })
        };
        if count < min {
            more(k)
        } else if greedy {
            more(k) || k(i)
        } else if k(i) {
            true
        } else {
            more(k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern)
            .unwrap_or_else(|| panic!("{pattern} does not compile"))
            .is_match(text)
    }

    #[test]
    fn common_crd_patterns() {
        let cron = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";
        assert!(matches(cron, "*/5 * * * *"));
        assert!(!matches(cron, "* * * *"));
        let dns = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        assert!(matches(dns, "web.example.com"));
        assert!(!matches(dns, "Web_1"));
        assert!(matches("^(Always|Never)$", "Never"));
        assert!(!matches("^(Always|Never)$", "Sometimes"));
        assert!(matches("[0-9]{2,3}", "a123"));
        assert!(!matches("^[0-9]{2,3}$", "1234"));
        assert!(matches("ab+?c", "abbbc"));
        assert!(matches(r"^\w+@\w+\.com$", "me@x.com"));
        assert!(matches("colou?r", "the color"));
        assert!(matches(r"^[^/]+$", "a-b"));
        assert!(!matches(r"^[^/]+$", "a/b"));
    }

    #[test]
    fn unsupported_syntax_is_not_compiled() {
        assert!(Regex::new("(?i)abc").is_none());
        assert!(Regex::new(r"\pL+").is_none());
        assert!(Regex::new("[[:alpha:]]").is_none());
        assert!(Regex::new("(abc").is_none());
    }

    #[test]
    fn pathological_patterns_and_long_values_give_up_as_a_match() {
        let text = "a".repeat(40) + "b";
        assert!(matches("^(a+)+$", &text));
        let long = "a".repeat(1_000_000) + "B";
        assert!(matches("^[a-z]*$", &long));
        assert!(!matches("^[a-z]*$", &("a".repeat(200) + "B")));
        // Names up to the longest Kubernetes allows are still checked in full.
        let dns = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        assert!(!matches(dns, &("a".repeat(252) + "_")));
        assert!(matches(dns, &"a".repeat(253)));
    }
}
