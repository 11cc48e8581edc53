//! Expressions: `${{ ... }}` interpolation inside strings, and the boolean conditions of
//! `if:`. They are data, never code: references (`params.X`, `steps.ID.outputs.Y`,
//! `env.X`, `run.id`), string/number/boolean literals, `==`, `!=`, `&&`, `||`, `!` and
//! parentheses. Interpolation takes one reference or literal; only `if:` takes operators.

mod parse;

use std::fmt;

pub use parse::{MAX_EXPR_DEPTH, parse_condition, parse_template, parse_template_all};

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
