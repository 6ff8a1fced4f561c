//! The expression nesting limit: an expression more than `MAX_EXPR_DEPTH`
//! levels deep is one `ExpressionTooDeep` error and a `0` in the tree, and
//! nothing (building, dropping, comparing the tree) recurses on the depth the
//! source nests: the deep sources below parse on a 256 KiB stack.

use grammar::SyntaxError::{self, *};
use grammar::ast::{Expr, Int, Item, MAX_EXPR_DEPTH, Operand, Program, Span};
use grammar::parse;

mod common;
use common::{job, lp};

/// Runs `f` on a thread with a 256 KiB stack: a recursion proportional to
/// the nesting of the sources below would need tens of megabytes.
fn on_a_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Parses `src` on a small stack, and drops the tree there too; gives back
/// the errors, and the span and value of the first parameter's default when
/// it is an integer.
fn parse_deep(src: String) -> (Vec<SyntaxError>, Option<Int>) {
    on_a_small_stack(move || {
        let (program, errors) = parse(&src);
        let default = match program.params.first().and_then(|p| p.default.as_ref()) {
            Some(Expr::Int(i)) => Some(*i),
            _ => None,
        };
        drop(program);
        (errors, default)
    })
}

const LEVELS: usize = 200_000;

/// `param a = EXPR`, and the span of `EXPR`.
fn param(expr: &str) -> (String, Span) {
    let src = format!("param a = {expr}\n");
    let span = Span::new(10, 10 + expr.len());
    (src, span)
}

/// The placeholder a too-deep expression leaves: `0`, spanning it.
fn placeholder(span: Span) -> Int {
    Int { value: 0, span }
}

#[test]
fn two_hundred_thousand_unary_minuses_are_one_error() {
    let (src, span) = param(&format!("{}1", "-".repeat(LEVELS)));
    let (errors, default) = parse_deep(src);
    assert_eq!(errors, vec![ExpressionTooDeep { span }]);
    assert_eq!(default, Some(placeholder(span)));
    assert_eq!(errors[0].to_string(), "expression nested too deeply");
    assert!(
        errors[0]
            .help()
            .unwrap()
            .starts_with("at most 64 levels of nesting:")
    );
}

#[test]
fn two_hundred_thousand_right_nested_powers_are_one_error() {
    let (src, span) = param(&format!("{}2", "2^".repeat(LEVELS)));
    let (errors, default) = parse_deep(src);
    assert_eq!(errors, vec![ExpressionTooDeep { span }]);
    assert_eq!(default, Some(placeholder(span)));
}

#[test]
fn other_deep_shapes_are_one_error_each() {
    // Each shape, and whether parentheses are around all of it (they are
    // outside the span: a parenthesised expression spans its inside).
    let shapes = [
        // Parentheses nested to the right and to the left, operators inside.
        (
            format!("{}1{}", "(1 + ".repeat(LEVELS), ")".repeat(LEVELS)),
            true,
        ),
        (
            format!("{}1{}", "(".repeat(LEVELS), " * 2)".repeat(LEVELS)),
            true,
        ),
        // A left-nested chain is as deep as it is long.
        (format!("1{}", " - 1".repeat(LEVELS)), false),
        // Calls.
        (
            format!("{}n{}", "max(1, ".repeat(LEVELS), ")".repeat(LEVELS)),
            false,
        ),
        // Everything at once.
        (
            format!("{}k{}", "-(2^-(".repeat(LEVELS), ") + 1)".repeat(LEVELS)),
            false,
        ),
    ];
    for (expr, parenthesised) in shapes {
        let (src, mut span) = param(&expr);
        if parenthesised {
            span = Span {
                start: span.start + 1,
                end: span.end - 1,
            };
        }
        let (errors, default) = parse_deep(src);
        assert_eq!(errors, vec![ExpressionTooDeep { span }], "{}", &expr[..20]);
        assert_eq!(default, Some(placeholder(span)));
    }
}

#[test]
fn a_flat_chain_counts_one_level_per_operator() {
    // 63 operators over 64 leaves: 64 levels, the most there may be.
    let (src, _) = param(&format!("1{}", " + 1".repeat(MAX_EXPR_DEPTH - 1)));
    assert_eq!(parse_deep(src).0, vec![]);
    let (src, span) = param(&format!("1{}", " + 1".repeat(MAX_EXPR_DEPTH)));
    assert_eq!(parse_deep(src).0, vec![ExpressionTooDeep { span }]);
}

#[test]
fn parentheses_alone_add_no_depth() {
    let expr = format!("{}1{}", "(".repeat(LEVELS), ")".repeat(LEVELS));
    let (src, _) = param(&expr);
    let (errors, default) = parse_deep(src);
    assert_eq!(errors, vec![]);
    let one = 10 + LEVELS;
    assert_eq!(
        default,
        Some(Int {
            value: 1,
            span: Span::new(one, one + 1)
        })
    );
}

#[test]
fn a_deep_expression_on_a_line_with_a_syntax_error_is_dropped_safely() {
    // The line is dropped (with the partial tree on the parser's stack):
    // only the syntax error is reported, and nothing overflows.
    let sources = [
        format!("param a = {}1 x\n", "-".repeat(LEVELS)),
        format!("param a = 1{} x\n", " + 1".repeat(LEVELS)),
        format!("param a = {}2 x\n", "2^".repeat(LEVELS)),
        format!("j:\n    CHOL A[{}1] %0\n", "-".repeat(LEVELS)),
        format!("for i in range({}1) x\n", "-".repeat(LEVELS)),
        format!("param a = ({}\n", "(1 + ".repeat(LEVELS)),
    ];
    for src in sources {
        let len = src.len();
        let (errors, _) = parse_deep(src);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            matches!(errors[0], UnexpectedToken { span, .. } if span.end as usize >= len - 2),
            "{errors:?}"
        );
    }
}

/// An expression `levels` deep: `levels - 1` unary minuses on `1`.
fn negs(levels: usize) -> String {
    format!("{}1", "-".repeat(levels - 1))
}

/// The depth of an expression as `MAX_EXPR_DEPTH` counts it (the tree is at
/// most that deep, so recursion is fine here).
fn depth(e: &Expr<'_>) -> usize {
    1 + match e {
        Expr::Int(_) | Expr::Name(_) => 0,
        Expr::Neg(inner, _) => depth(inner),
        Expr::Binary(b) => depth(&b.lhs).max(depth(&b.rhs)),
        Expr::Call(c) => c.args.iter().map(depth).max().unwrap_or(0),
    }
}

#[test]
fn the_limit_is_64_levels_and_applies_to_every_expression() {
    assert_eq!(MAX_EXPR_DEPTH, 64);
    let deep = negs(MAX_EXPR_DEPTH + 1);
    let ok = negs(MAX_EXPR_DEPTH);
    // `deep` is `ok` with one more minus: every occurrence of `deep` in the
    // source below is a too-deep expression, and only those are.
    let src = format!(
        "\
param a = {deep}, b = {ok}
matrix M[{deep}, {ok}] : f64[{deep}, {ok}] tile [{ok}, {deep}] input = spd({deep}, {ok})
for i in range({deep}, {ok}, {deep}) {{
    lab[{ok}, {deep}]:
        %0 = S3_LOAD A[{deep}, {ok}], B[{ok}], C[{deep}]
}}
for j in range({deep}) {{
}}
"
    );
    let (program, errors) = parse(&src);
    let deep_spans: Vec<Span> = src
        .match_indices(&deep)
        .map(|(i, _)| Span::new(i, i + deep.len()))
        .collect();
    assert_eq!(deep_spans.len(), 11);
    assert_eq!(
        errors,
        deep_spans
            .iter()
            .map(|&span| ExpressionTooDeep { span })
            .collect::<Vec<_>>()
    );

    // Every expression in the tree is now a placeholder (where the source
    // was too deep) or the full 64 levels (where it was not).
    let zero =
        |e: &Expr<'_>| matches!(e, Expr::Int(Int { value: 0, span }) if deep_spans.contains(span));
    let kept = |e: &Expr<'_>| depth(e) == MAX_EXPR_DEPTH && src[e.span().range()] == ok;
    let mut expressions: Vec<(&Expr<'_>, bool)> = Vec::new();
    let p = &program.params;
    expressions.push((p[0].default.as_ref().unwrap(), true));
    expressions.push((p[1].default.as_ref().unwrap(), false));
    let m = &program.matrices[0];
    let init = &m.init.as_ref().unwrap().args;
    expressions.extend([
        (&m.versions[0], true),
        (&m.versions[1], false),
        (&m.shape[0], true),
        (&m.shape[1], false),
        (&m.tile[0], false),
        (&m.tile[1], true),
        (&init[0], true),
        (&init[1], false),
    ]);
    let i = lp(&program.items[0]);
    expressions.extend([
        (i.start.as_ref().unwrap(), true),
        (&i.end, false),
        (i.step.as_ref().unwrap(), true),
    ]);
    let lab = job(&i.body[0]);
    expressions.extend([(&lab.index[0], false), (&lab.index[1], true)]);
    let tiles: Vec<_> = lab.body[0]
        .operands
        .iter()
        .map(|o| match o {
            Operand::Tile(t) => t,
            Operand::Reg(_) => panic!("expected tiles"),
        })
        .collect();
    expressions.extend([
        (&tiles[0].index[0], true),
        (&tiles[0].index[1], false),
        (&tiles[1].index[0], false),
        (&tiles[2].index[0], true),
    ]);
    let Item::Loop(j) = &program.items[1] else {
        panic!("expected a loop")
    };
    expressions.push((&j.end, true));
    assert_eq!(expressions.len(), 20);
    for (e, too_deep) in expressions {
        if too_deep {
            assert!(zero(e), "{:?} should be a placeholder", e.span());
        } else {
            assert!(kept(e), "{:?} should be kept", e.span());
        }
    }
    // The tree at the limit clones, compares and drops like any other.
    let copy: Program<'_> = program.clone();
    assert_eq!(copy, program);
}

#[test]
fn a_too_deep_operand_makes_its_whole_expression_one_error() {
    let deep = negs(MAX_EXPR_DEPTH + 1);
    // Two deep arguments in one call: the call is one too-deep expression.
    let expr = format!("1 + max({deep}, {deep})");
    let (src, span) = param(&expr);
    let (errors, default) = parse_deep(src);
    assert_eq!(errors, vec![ExpressionTooDeep { span }]);
    assert_eq!(default, Some(placeholder(span)));

    // An expression at the limit inside parentheses stays at the limit.
    let (src, _) = param(&format!("(({}))", negs(MAX_EXPR_DEPTH)));
    assert_eq!(parse_deep(src).0, vec![]);
    // One level more, anywhere, is too deep.
    for expr in [
        format!("1 + {}", negs(MAX_EXPR_DEPTH)),
        format!("{} * 2", negs(MAX_EXPR_DEPTH)),
        format!("f({})", negs(MAX_EXPR_DEPTH)),
        format!("-({})", negs(MAX_EXPR_DEPTH)),
    ] {
        let (src, span) = param(&expr);
        assert_eq!(
            parse_deep(src).0,
            vec![ExpressionTooDeep { span }],
            "{expr}"
        );
    }
}

#[test]
fn many_deep_expressions_are_reported_each() {
    // Placeholders of lines that were never received (a syntax error dropped
    // them) do not confuse later lines.
    let deep = negs(MAX_EXPR_DEPTH + 1);
    let src = format!("param a = {deep} x\nparam b = {deep}\nparam c = {deep}, d = {deep}\n");
    let (_, errors) = parse(&src);
    let deep_at = |n: usize| {
        let start = src.match_indices(&deep).nth(n).unwrap().0;
        Span::new(start, start + deep.len())
    };
    assert!(matches!(errors[0], UnexpectedToken { .. }));
    assert_eq!(
        errors[1..],
        [
            ExpressionTooDeep { span: deep_at(1) },
            ExpressionTooDeep { span: deep_at(2) },
            ExpressionTooDeep { span: deep_at(3) },
        ]
    );
}

/// 20,000 nested `for` lines: one error each past the limit, a tree no deeper than the
/// limit, and nothing recursing on the depth (a small stack).
#[test]
fn loops_nested_past_the_limit_are_refused() {
    let run = || {
        let n = 20_000;
        let mut src = String::from("matrix A : f64[4, 4] tile [4, 4] input = zeros\n");
        for k in 0..n {
            src.push_str(&format!("for v{k} in range(1) {{\n"));
        }
        src.push_str("job:\n    %a = ADD A[0, 0], A[0, 0]\n");
        for _ in 0..n {
            src.push_str("}\n");
        }
        let (program, errors) = grammar::parse(&src);
        let too_deep: Vec<_> = errors
            .iter()
            .filter(|e| matches!(e, grammar::SyntaxError::LoopsTooDeep { .. }))
            .collect();
        assert_eq!(too_deep.len(), n - grammar::ast::MAX_LOOP_DEPTH);
        assert_eq!(errors.len(), too_deep.len(), "{:?}", &errors[..3]);
        // The tree holds MAX_LOOP_DEPTH loops and the job in the innermost.
        let mut depth = 0;
        let mut items = &program.items;
        while let Some(grammar::ast::Item::Loop(l)) = items.first() {
            depth += 1;
            items = &l.body;
        }
        assert_eq!(depth, grammar::ast::MAX_LOOP_DEPTH);
        assert_eq!(program.jobs().count(), 1);
        drop(program);
    };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}
