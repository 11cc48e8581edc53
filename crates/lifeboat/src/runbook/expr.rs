//! Expressions: `${{ ... }}` interpolation inside strings, and the boolean conditions of
//! `if:`. They are data, never code: references (`params.X`, `steps.ID.outputs.Y`,
//! `env.X`, `run.id`), string/number/boolean literals, `==`, `!=`, `&&`, `||`, `!` and
//! parentheses. Interpolation takes one reference or literal; only `if:` takes operators.

use std::fmt;

/// What an expression refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Param(String),
    /// `steps.ID.outputs.NAME` with an optional map key (`steps.ID.outputs.kinds.Secret`).
    Output {
        step: String,
        output: String,
        key: Option<String>,
    },
    Env(String),
    Run(String),
}

/// Fields of `run.` that exist.
pub const RUN_FIELDS: &[&str] = &["id", "runbook", "dry_run"];

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Param(p) => write!(f, "params.{p}"),
            Reference::Output {
                step,
                output,
                key: None,
            } => write!(f, "steps.{step}.outputs.{output}"),
            Reference::Output {
                step,
                output,
                key: Some(k),
            } => {
                write!(f, "steps.{step}.outputs.{output}.{k}")
            }
            Reference::Env(e) => write!(f, "env.{e}"),
            Reference::Run(r) => write!(f, "run.{r}"),
        }
    }
}

/// A reference and its character offset in the string it was written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefAt {
    pub reference: Reference,
    pub offset: usize,
}

/// An expression problem, at a character offset in the string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl ExprError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        ExprError {
            offset,
            message: message.into(),
            hint: None,
        }
    }
    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// A value an expression produces.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Str(s) => !s.is_empty() && s != "false",
            Value::Num(n) => *n != 0.0,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Lit(Value),
    Ref(RefAt),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Eq(Box<Expr>, Box<Expr>),
    Ne(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Every reference in the expression.
    pub fn references(&self) -> Vec<&RefAt> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a RefAt>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Ref(r) => out.push(r),
            Expr::Not(e) => e.collect(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Eq(a, b) | Expr::Ne(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Evaluates with `lookup`; `None` when a reference cannot be known yet.
    pub fn eval(&self, lookup: &dyn Fn(&Reference) -> Option<Value>) -> Option<Value> {
        Some(match self {
            Expr::Lit(v) => v.clone(),
            Expr::Ref(r) => lookup(&r.reference)?,
            Expr::Not(e) => Value::Bool(!e.eval(lookup)?.truthy()),
            Expr::And(a, b) => Value::Bool(a.eval(lookup)?.truthy() && b.eval(lookup)?.truthy()),
            Expr::Or(a, b) => Value::Bool(a.eval(lookup)?.truthy() || b.eval(lookup)?.truthy()),
            Expr::Eq(a, b) => Value::Bool(loose_eq(&a.eval(lookup)?, &b.eval(lookup)?)),
            Expr::Ne(a, b) => Value::Bool(!loose_eq(&a.eval(lookup)?, &b.eval(lookup)?)),
        })
    }
}

/// Params and outputs are strings; `"3" == 3` and `"true" == true` hold.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x == y,
        (Value::Str(s), Value::Num(n)) | (Value::Num(n), Value::Str(s)) => {
            s.trim().parse::<f64>().is_ok_and(|v| v == *n)
        }
        _ => a.to_string() == b.to_string(),
    }
}

/// One piece of an interpolated string.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Text(String),
    /// An expression with the offset of its `${{` and its source text.
    Expr {
        expr: Expr,
        offset: usize,
        source: String,
    },
}

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

/// Renders a template, replacing each expression by `resolve`'s answer, or leaving its
/// source text when `resolve` returns `None`.
pub fn render(segments: &[Segment], resolve: &dyn Fn(&Expr) -> Option<String>) -> String {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Expr { expr, source, .. } => match resolve(expr) {
                Some(v) => out.push_str(&v),
                None => out.push_str(source),
            },
        }
    }
    out
}

fn starts_with(chars: &[char], at: usize, pat: &str) -> bool {
    pat.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

fn find(chars: &[char], from: usize, pat: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| starts_with(chars, i, pat))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
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

fn lex(s: &str, base: usize) -> Result<Vec<(Tok, usize)>, ExprError> {
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

fn parse_expr_at(s: &str, base: usize) -> Result<Expr, ExprError> {
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

fn describe(t: &Tok) -> String {
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

struct Parser {
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

fn reference(path: Vec<String>, at: usize) -> Result<Reference, ExprError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_splits_text_and_references() {
        let segs = parse_template("ns-${{ params.namespace }}-x").unwrap_or_default();
        assert_eq!(segs.len(), 3);
        let rendered = render(&segs, &|e| match e {
            Expr::Ref(r) if r.reference == Reference::Param("namespace".into()) => {
                Some("shop".into())
            }
            _ => None,
        });
        assert_eq!(rendered, "ns-shop-x");
    }

    #[test]
    fn unresolved_references_keep_their_source() {
        let segs = parse_template("${{ steps.b.outputs.backup_id }}").unwrap_or_default();
        assert_eq!(render(&segs, &|_| None), "${{ steps.b.outputs.backup_id }}");
    }

    #[test]
    fn template_errors_point_at_their_offset() {
        let e = parse_template("a ${{ params.x").err();
        assert_eq!(e.map(|e| e.offset), Some(2));
        let e = parse_template("${{ params.x == 'a' }}").err();
        assert!(e.is_some_and(|e| e.message.contains("only allowed in `if:`")));
        let e = parse_template("${{ steps.a.result }}").err();
        assert_eq!(e.map(|e| e.offset), Some(4));
    }

    #[test]
    fn conditions_evaluate() {
        let e = parse_condition("${{ params.mode == 'failover' && !params.skip }}");
        let lookup = |r: &Reference| match r {
            Reference::Param(p) if p == "mode" => Some(Value::Str("failover".into())),
            Reference::Param(p) if p == "skip" => Some(Value::Str("false".into())),
            _ => None,
        };
        assert_eq!(
            e.ok().and_then(|e| e.eval(&lookup)),
            Some(Value::Bool(true))
        );
        let e = parse_condition("steps.a.outputs.failed == 0");
        assert_eq!(e.ok().and_then(|e| e.eval(&lookup)), None);
    }

    #[test]
    fn deep_conditions_are_refused_not_overflowing_the_stack() {
        let parens = format!("{}true{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse_condition(&parens).is_err_and(|e| e.message.contains("nests deeper")));
        let nots = format!("{}true", "!".repeat(100_000));
        assert!(parse_condition(&nots).is_err_and(|e| e.message.contains("nests deeper")));
        assert!(parse_condition(&format!("{}true{}", "(".repeat(20), ")".repeat(20))).is_ok());
    }

    #[test]
    fn every_bad_expression_in_a_string_is_found() {
        let (segments, errors) =
            parse_template_all("${{ run.x.y }} ${{ params.ok }} ${{ a == b }}");
        assert_eq!(errors.len(), 2);
        assert_eq!(
            segments
                .iter()
                .filter(|s| matches!(s, Segment::Expr { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn condition_syntax_errors() {
        assert!(parse_condition("params.a ==").is_err());
        assert!(parse_condition("(params.a").is_err());
        assert!(parse_condition("params.a = 'x'").is_err());
        assert!(parse_condition("$(rm -rf /)").is_err());
    }
}
