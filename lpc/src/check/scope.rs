//! Names in expressions: program parameters (numbers by the time a program
//! is checked: their defaults, or what `--set` gave) and loop variables (by
//! depth), and the lowering of an expression to the IR.
//!
//! Parameters are evaluated in declaration order, so a default may use the
//! parameters declared before it (`param nt = ceil(n / b)`). A loop
//! variable may not reuse a parameter's or an enclosing loop's name: every
//! name in an expression means one thing.
//!
//! Lowering records the span of every IR node it builds, in pre-order (the
//! order in which `lp_program::family` numbers the nodes it reports), so
//! that the solver's "node 3 of this index is not affine" becomes a label on
//! the right piece of text.

use crate::error::CheckError;
use grammar::ast::{self, BinOp, Span};
use lp_program::Expr;
use std::collections::HashMap;

/// The value a `--set NAME=VALUE` gave.
pub type Setting = (String, i64);

pub struct Scope<'src> {
    params: HashMap<&'src str, (i64, Span)>,
    /// Parameter names in declaration order, for "known names" lists.
    param_order: Vec<&'src str>,
    /// The variables of the enclosing loops, outermost first.
    loops: Vec<(&'src str, Span)>,
}

/// Functions of expressions.
const FUNCTIONS: &str = "`ceil(a / b)`, `floor(a / b)`, `min(a, b, ...)`, `max(a, b, ...)`, \
                         `ceil(log2(a))` and `floor(log2(a))`";

/// Errors of expressions travel boxed: a `CheckError` is large, and the
/// `Ok` side of these results is on the path of every tile index.
pub type ExprResult<T> = Result<T, Box<CheckError>>;

fn bad(span: Span, message: impl Into<String>, help: Option<&str>) -> Box<CheckError> {
    Box::new(CheckError::BadExpr {
        span,
        message: message.into(),
        help: help.map(str::to_string),
    })
}

/// `Ok` when `call` has exactly `n` arguments.
fn arity(call: &ast::Call<'_>, n: usize) -> ExprResult<()> {
    if call.args.len() == n {
        return Ok(());
    }
    Err(bad(
        call.span,
        format!(
            "`{}` takes {n} argument{}, found {}",
            call.name.name,
            if n == 1 { "" } else { "s" },
            call.args.len()
        ),
        None,
    ))
}

impl<'src> Scope<'src> {
    /// Evaluates the parameters: `settings` first, else each default.
    /// Every default is evaluated, set or not: the text must be valid
    /// whatever the command line says.
    pub fn new(
        params: &[ast::Param<'src>],
        settings: &[Setting],
        errors: &mut Vec<CheckError>,
    ) -> Scope<'src> {
        let mut scope = Scope {
            params: HashMap::with_capacity(params.len()),
            param_order: Vec::with_capacity(params.len()),
            loops: Vec::new(),
        };
        for (k, p) in params.iter().enumerate() {
            let name = p.name.name;
            if let Some(&(_, first)) = scope.params.get(name) {
                errors.push(CheckError::DuplicateParam {
                    span: p.name.span,
                    first,
                    name: name.to_string(),
                });
                continue;
            }
            let set = settings.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            let default = p
                .default
                .as_ref()
                .and_then(|d| scope.eval_default(d, name, &params[k + 1..], errors));
            // Whatever fails gets 1 all the same, so that its uses do not
            // report it again as an unknown name.
            let value = match (set, &p.default) {
                (Some(v), Some(d)) => scope.set_over_default(name, v, d, default, errors),
                (Some(v), None) => v,
                (None, Some(_)) => default.unwrap_or(1),
                (None, None) => {
                    errors.push(CheckError::ParamUnset {
                        span: p.name.span,
                        name: name.to_string(),
                    });
                    1
                }
            };
            scope.params.insert(name, (value, p.name.span));
            scope.param_order.push(name);
        }
        scope
    }

    /// The value of parameter `name`'s default `d`, or `None` with its error
    /// pushed. A name the default cannot use because it is `name` itself or
    /// a parameter declared after it (in `later`) is said to be so.
    fn eval_default(
        &self,
        d: &ast::Expr<'_>,
        name: &str,
        later: &[ast::Param<'_>],
        errors: &mut Vec<CheckError>,
    ) -> Option<i64> {
        let err = match self.constant(d, "a parameter's default") {
            Ok(v) => return Some(v),
            Err(e) => *e,
        };
        errors.push(match err {
            CheckError::UnknownName {
                span, name: used, ..
            } if used == name => CheckError::ParamUsedTooEarly {
                span,
                param: name.to_string(),
                name: used,
                decl: None,
            },
            CheckError::UnknownName {
                span,
                name: used,
                known,
            } => match later.iter().find(|p| p.name.name == used) {
                Some(p) => CheckError::ParamUsedTooEarly {
                    span,
                    param: name.to_string(),
                    name: used,
                    decl: Some(p.name.span),
                },
                None => CheckError::UnknownName {
                    span,
                    name: used,
                    known,
                },
            },
            other => other,
        });
        None
    }

    /// The value of parameter `name`, set to `v` on the command line, whose
    /// default `d` evaluated to `default`.
    fn set_over_default(
        &self,
        name: &str,
        v: i64,
        d: &ast::Expr<'_>,
        default: Option<i64>,
        errors: &mut Vec<CheckError>,
    ) -> i64 {
        // A default over other parameters is part of the program
        // (`nt = ceil(n / b)`): another value would make the tile grid
        // disagree with the sizes.
        let from: Vec<String> = d
            .names()
            .into_iter()
            .filter(|n| self.params.contains_key(n))
            .map(str::to_string)
            .collect();
        if from.is_empty() {
            return v;
        }
        errors.push(CheckError::ComputedParamSet {
            span: d.span(),
            name: name.to_string(),
            from,
        });
        default.unwrap_or(1)
    }

    pub fn depth(&self) -> usize {
        self.loops.len()
    }

    /// The loop variables in scope, outermost first.
    pub fn loop_vars(&self) -> Vec<String> {
        self.loops.iter().map(|(n, _)| n.to_string()).collect()
    }

    /// Enters a loop; its variable must not hide another name.
    pub fn push_loop(&mut self, var: ast::Ident<'src>, errors: &mut Vec<CheckError>) {
        let earlier = self
            .loops
            .iter()
            .find(|(n, _)| *n == var.name)
            .map(|&(_, s)| s)
            .or_else(|| self.params.get(var.name).map(|&(_, s)| s));
        if let Some(first) = earlier {
            errors.push(CheckError::ShadowedName {
                span: var.span,
                first,
                name: var.name.to_string(),
            });
        }
        self.loops.push((var.name, var.span));
    }

    pub fn pop_loop(&mut self) {
        self.loops.pop();
    }

    /// The value of an expression that must not use loop variables.
    pub fn constant(&self, e: &ast::Expr<'_>, what: &'static str) -> ExprResult<i64> {
        let mut spans = Vec::new();
        let ir = self.lower(e, &mut spans)?;
        if ir.max_var().is_some() {
            return Err(Box::new(CheckError::NotConstant {
                span: e.span(),
                what,
            }));
        }
        ir.eval(&[])
            .map_err(|err| bad(e.span(), err.to_string(), None))
    }

    /// The IR form of `e`, pushing each node's span to `spans` in pre-order.
    pub fn lower(&self, e: &ast::Expr<'_>, spans: &mut Vec<Span>) -> ExprResult<Expr> {
        spans.push(e.span());
        let b = Box::new;
        Ok(match e {
            ast::Expr::Int(i) => Expr::Const(i64::try_from(i.value).map_err(|_| {
                bad(
                    i.span,
                    "integer too large for an index expression",
                    Some("integers in expressions must be at most 9223372036854775807"),
                )
            })?),
            ast::Expr::Name(n) => {
                if let Some(depth) = self.loops.iter().rposition(|(v, _)| *v == n.name) {
                    Expr::Var(depth as u8)
                } else if let Some(&(value, _)) = self.params.get(n.name) {
                    Expr::Const(value)
                } else {
                    let mut known: Vec<String> =
                        self.param_order.iter().map(|p| p.to_string()).collect();
                    known.extend(self.loop_vars());
                    return Err(Box::new(CheckError::UnknownName {
                        span: n.span,
                        name: n.name.to_string(),
                        known,
                    }));
                }
            }
            ast::Expr::Neg(inner, _) => Expr::Neg(b(self.lower(inner, spans)?)),
            ast::Expr::Binary(bin) => {
                let op = bin.op;
                if op == BinOp::Div {
                    return Err(bad(
                        bin.span,
                        "integer division must say how it rounds",
                        Some("write `floor(a / b)` or `ceil(a / b)`"),
                    ));
                }
                let lhs = b(self.lower(&bin.lhs, spans)?);
                let rhs = b(self.lower(&bin.rhs, spans)?);
                match op {
                    BinOp::Add => Expr::Add(lhs, rhs),
                    BinOp::Sub => Expr::Sub(lhs, rhs),
                    BinOp::Mul => Expr::Mul(lhs, rhs),
                    BinOp::Pow => Expr::Pow(lhs, rhs),
                    BinOp::Div => unreachable!("refused above"),
                }
            }
            ast::Expr::Call(call) => self.call(call, spans)?,
        })
    }

    /// `ceil(log2(x))` or `floor(log2(x))` of a constant `x`: a constant, so
    /// it needs no IR node of its own.
    fn log2(&self, inner: &ast::Call<'_>, ceil: bool) -> ExprResult<Expr> {
        arity(inner, 1)?;
        let x = self.constant(&inner.args[0], "the argument of `log2`")?;
        if x < 1 {
            return Err(bad(inner.span, format!("`log2` of {x} is undefined"), None));
        }
        let floor = 63 - x.leading_zeros() as i64;
        let exact = x & (x - 1) == 0;
        Ok(Expr::Const(if ceil && !exact { floor + 1 } else { floor }))
    }

    fn call(&self, call: &ast::Call<'_>, spans: &mut Vec<Span>) -> ExprResult<Expr> {
        let name = call.name.name;
        match name {
            "ceil" | "floor" => {
                arity(call, 1)?;
                let ceil = name == "ceil";
                match &call.args[0] {
                    ast::Expr::Binary(bin) if bin.op == BinOp::Div => {
                        let lhs = Box::new(self.lower(&bin.lhs, spans)?);
                        let rhs = Box::new(self.lower(&bin.rhs, spans)?);
                        Ok(if ceil {
                            Expr::CeilDiv(lhs, rhs)
                        } else {
                            Expr::FloorDiv(lhs, rhs)
                        })
                    }
                    ast::Expr::Call(inner) if inner.name.name == "log2" => self.log2(inner, ceil),
                    other => Err(bad(
                        other.span(),
                        format!("`{name}` rounds a division or a logarithm"),
                        Some(&format!("write `{name}(a / b)` or `{name}(log2(a))`")),
                    )),
                }
            }
            "min" | "max" => {
                if call.args.len() < 2 {
                    return Err(bad(
                        call.span,
                        format!(
                            "`{name}` takes 2 or more arguments, found {}",
                            call.args.len()
                        ),
                        None,
                    ));
                }
                let args = call
                    .args
                    .iter()
                    .map(|a| self.lower(a, spans))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if name == "min" {
                    Expr::Min(args)
                } else {
                    Expr::Max(args)
                })
            }
            "log2" => Err(bad(
                call.span,
                "a logarithm must say how it rounds",
                Some("write `ceil(log2(a))` or `floor(log2(a))`"),
            )),
            _ => Err(bad(
                call.name.span,
                format!("unknown function `{}`", grammar::lexer::clip(name)),
                Some(&format!("the functions are {FUNCTIONS}")),
            )),
        }
    }
}
