//! Reading expressions: templates split into text and `${{ }}` parts, each expression
//! lexed and parsed (precedence climbing, bounded depth) with errors at their offset.

use super::{Expr, ExprError, RefAt, Reference, Segment, Value};

/// Splits a string into text and `${{ }}` expressions. Interpolations take one reference
/// or literal; operators belong in `if:`.
pub fn parse_template(s: &str) -> Result<Vec<Segment>, ExprError> {
    let (segments, mut errors) = parse_template_all(s);
    if errors.is_empty() {
        Ok(segments)
    } else {
        Err(errors.remove(0))
    }
}

/// Like `parse_template`, but goes on after a bad expression so that every problem in
/// the string is found; the segments hold the expressions that parsed.
pub fn parse_template_all(s: &str) -> (Vec<Segment>, Vec<ExprError>) {
    let chars: Vec<char> = s.chars().collect();
    let mut segments = Vec::new();
    let mut errors = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        if !starts_with(&chars, i, "${{") {
            text.push(chars[i]);
            i += 1;
            continue;
        }
        let open = i;
        let Some(close) = find(&chars, i + 3, "}}") else {
            errors.push(
                ExprError::new(open, "unterminated `${{`").hint("close the expression with `}}`"),
            );
            break;
        };
        if !text.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut text)));
        }
        let inner: String = chars[open + 3..close].iter().collect();
        match parse_expr_at(&inner, open + 3) {
            Ok(expr) if matches!(expr, Expr::Ref(_) | Expr::Lit(_)) => {
                segments.push(Segment::Expr {
                    expr,
                    offset: open,
                    source: chars[open..close + 2].iter().collect(),
                })
            }
            Ok(_) => errors.push(
                ExprError::new(open, "operators are only allowed in `if:` conditions")
                    .hint("interpolate one reference, such as `${{ params.namespace }}`"),
            ),
            Err(e) => errors.push(e),
        }
        i = close + 2;
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    (segments, errors)
}

/// Parses an `if:` condition: a bare expression or one wrapped in `${{ }}`.
pub fn parse_condition(s: &str) -> Result<Expr, ExprError> {
    let trimmed_start = s.len() - s.trim_start().len();
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")) {
        let offset = s[..trimmed_start].chars().count() + 3;
        return parse_expr_at(inner, offset);
    }
    parse_expr_at(s, 0)
}

pub(super) fn starts_with(chars: &[char], at: usize, pat: &str) -> bool {
    pat.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

pub(super) fn find(chars: &[char], from: usize, pat: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| starts_with(chars, i, pat))
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Dot,
    LParen,
    RParen,
    Not,
    And,
    Or,
    Eq,
    Ne,
}

pub(super) fn lex(s: &str, base: usize) -> Result<Vec<(Tok, usize)>, ExprError> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = base + i;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '.' => {
                toks.push((Tok::Dot, at));
                i += 1;
            }
            '(' => {
                toks.push((Tok::LParen, at));
                i += 1;
            }
            ')' => {
                toks.push((Tok::RParen, at));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                toks.push((Tok::Ne, at));
                i += 2;
            }
            '!' => {
                toks.push((Tok::Not, at));
                i += 1;
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                toks.push((Tok::Eq, at));
                i += 2;
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                toks.push((Tok::And, at));
                i += 2;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                toks.push((Tok::Or, at));
                i += 2;
            }
            '\'' | '"' => {
                let end = (i + 1..chars.len())
                    .find(|&j| chars[j] == c)
                    .ok_or_else(|| ExprError::new(at, "unterminated string literal"))?;
                toks.push((Tok::Str(chars[i + 1..end].iter().collect()), at));
                i = end + 1;
            }
            c if c.is_ascii_digit() => {
                let end = (i..chars.len())
                    .find(|&j| !(chars[j].is_ascii_digit() || chars[j] == '.'))
                    .unwrap_or(chars.len());
                let text: String = chars[i..end].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| ExprError::new(at, format!("invalid number `{text}`")))?;
                toks.push((Tok::Num(n), at));
                i = end;
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = (i..chars.len())
                    .find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '-'))
                    .unwrap_or(chars.len());
                toks.push((Tok::Ident(chars[i..end].iter().collect()), at));
                i = end;
            }
            other => {
                return Err(ExprError::new(at, format!("unexpected `{other}` in expression"))
                    .hint("expressions hold references like `params.x`, quoted strings, numbers, ==, !=, &&, ||, ! and parentheses"));
            }
        }
    }
    Ok(toks)
}

pub(super) fn parse_expr_at(s: &str, base: usize) -> Result<Expr, ExprError> {
    let toks = lex(s, base)?;
    let end = base + s.chars().count();
    if toks.is_empty() {
        return Err(ExprError::new(base.saturating_sub(3), "empty expression")
            .hint("write a reference such as `params.namespace`"));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end,
        depth: 0,
    };
    let e = p.or()?;
    if let Some((t, at)) = p.toks.get(p.pos) {
        return Err(ExprError::new(
            *at,
            format!("unexpected {} after the expression", describe(t)),
        ));
    }
    Ok(e)
}

pub(super) fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(i) => format!("`{i}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Dot => "`.`".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Not => "`!`".into(),
        Tok::And => "`&&`".into(),
        Tok::Or => "`||`".into(),
        Tok::Eq => "`==`".into(),
        Tok::Ne => "`!=`".into(),
    }
}

/// Deepest nesting of `(` and `!` in an expression.
pub const MAX_EXPR_DEPTH: usize = 32;

pub(super) struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, a)| *a)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    /// Guards the recursion of `(` and `!` (a condition is one string, so the YAML
    /// depth limit does not bound it).
    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return Err(ExprError::new(
                self.at(),
                format!("expression nests deeper than {MAX_EXPR_DEPTH} levels"),
            )
            .hint("simplify the condition"));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let left = self.primary()?;
        match self.peek() {
            Some(Tok::Eq) => {
                self.pos += 1;
                Ok(Expr::Eq(Box::new(left), Box::new(self.primary()?)))
            }
            Some(Tok::Ne) => {
                self.pos += 1;
                Ok(Expr::Ne(Box::new(left), Box::new(self.primary()?)))
            }
            _ => Ok(left),
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return Err(ExprError::new(at, "expression ends too early"));
        };
        self.pos += 1;
        match tok {
            Tok::LParen => {
                self.deeper()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ExprError::new(self.at(), "missing `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Str(s) => Ok(Expr::Lit(Value::Str(s))),
            Tok::Num(n) => Ok(Expr::Lit(Value::Num(n))),
            Tok::Ident(i) if i == "true" => Ok(Expr::Lit(Value::Bool(true))),
            Tok::Ident(i) if i == "false" => Ok(Expr::Lit(Value::Bool(false))),
            Tok::Ident(root) => {
                let mut path = vec![root];
                while self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    match self.toks.get(self.pos) {
                        Some((Tok::Ident(part), _)) => path.push(part.clone()),
                        _ => return Err(ExprError::new(self.at(), "expected a name after `.`")),
                    }
                    self.pos += 1;
                }
                reference(path, at).map(|r| {
                    Expr::Ref(RefAt {
                        reference: r,
                        offset: at,
                    })
                })
            }
            other => Err(ExprError::new(
                at,
                format!("unexpected {}", describe(&other)),
            )),
        }
    }
}

pub(super) fn reference(path: Vec<String>, at: usize) -> Result<Reference, ExprError> {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    let full = parts.join(".");
    let hint = "references are `params.NAME`, `steps.ID.outputs.NAME`, `env.NAME` or `run.id`";
    match parts.as_slice() {
        ["params", name] => Ok(Reference::Param(name.to_string())),
        ["env", name] => Ok(Reference::Env(name.to_string())),
        ["run", field] => Ok(Reference::Run(field.to_string())),
        ["steps", step, "outputs", output] => Ok(Reference::Output {
            step: step.to_string(),
            output: output.to_string(),
            key: None,
        }),
        ["steps", step, "outputs", output, key] => Ok(Reference::Output {
            step: step.to_string(),
            output: output.to_string(),
            key: Some(key.to_string()),
        }),
        ["steps", step, ..] => Err(
            ExprError::new(at, format!("invalid reference `{full}`")).hint(format!(
                "a step's outputs are read as `steps.{step}.outputs.NAME`"
            )),
        ),
        ["inputs" | "param" | "parameters", ..] => {
            Err(ExprError::new(at, format!("unknown reference `{full}`")).hint(hint))
        }
        _ => Err(ExprError::new(at, format!("unknown reference `{full}`")).hint(hint)),
    }
}
