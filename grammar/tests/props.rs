//! Properties over arbitrary input: `parse` never panics, and every span it
//! returns (in the tree and in the errors) lies inside the source, on
//! character boundaries, and covers the text the node claims to be.

use grammar::SyntaxError;
use grammar::ast::{Expr, Ident, Item, Operand, Program, Span};
use grammar::parse;
use proptest::prelude::*;

const VALID: &str = "\
; 2 x 2 tiled Cholesky
matrix A : sym f64[8, 8] tile [4, 4] input = spd(42)
matrix L : f64[8, 8] tile [4, 4] output
matrix S1 : sym f64[8, 8] tile [4, 4] temp

chol_0:
    %0 = S3_LOAD A[0, 0]
    %1 = CHOL %0
    S3_WRITE L[0, 0], %1
    RET
trsm_1:
    %0 = S3_LOAD A[1, 0]
    %1 = S3_LOAD L[0, 0]
    %2 = TRSM_RLT %0, %1
    S3_WRITE L[1, 0], %2
syrk_2:
    %0 = S3_LOAD A[1, 1]
    %1 = S3_LOAD L[1, 0]
    %acc = SYRK %0, %1, %1
    S3_WRITE S1[1, 1], %acc
chol_3:
    %0 = S3_LOAD S1[1, 1]
    %1 = CHOL %0
    S3_WRITE L[1, 1], %1
";

/// The loop form, with every kind of expression and an indexed label.
const VALID_LOOPS: &str = "\
param n = 4096, b = 512, seed = 42, nt = ceil(n / b)
param l = log2(nt), p
matrix A : sym f64[n, n] tile [b, b] input = spd(seed)
matrix L : f64[n, n] tile [b, b] output
matrix S[nt] : sym f64[n, n] tile [b, b] temp = A
for k in range(nt) {
    chol:
        %l = CHOL S[k, k, k]
        S3_WRITE L[k, k], %l
    for i in range(k + 1, nt, 2^l^2 - -1) {
        trsm:
            %x = TRSM_RLT S[k, i, k], L[k, k]
            S3_WRITE L[i, k], %x
        for j in range(k + 1, (i + 1) * 1) {
            syrk:
                %s = SYRK S[k, i, j], L[i, k], L[j, k]
                S3_WRITE S[k + 1, i, j], %s
        }
    }
}
flat[max(0, 1), 2 / 2]:
    RET
";

fn check_span(src: &str, span: Span, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(span.start <= span.end, "{what}: inverted span {span:?}");
    prop_assert!(
        src.get(span.range()).is_some(),
        "{what}: span {span:?} is outside the source or off a char boundary"
    );
    Ok(())
}

fn check_ident(src: &str, ident: Ident<'_>, what: &str) -> Result<(), TestCaseError> {
    check_span(src, ident.span, what)?;
    prop_assert_eq!(&src[ident.span.range()], ident.name, "{}", what);
    Ok(())
}

/// `inner` lies inside `outer`.
fn check_inside(inner: Span, outer: Span, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        outer.start <= inner.start && inner.end <= outer.end,
        "{what}: {inner:?} is not inside {outer:?}"
    );
    Ok(())
}

/// The text between two spans, with the parentheses that may wrap operands
/// and the blanks removed.
fn between(src: &str, from: usize, to: usize) -> String {
    src[from..to]
        .chars()
        .filter(|c| !"() \t".contains(*c))
        .collect()
}

/// Spans that stand for something the source does not literally hold: the
/// `0` that replaces a too-deep expression, and the empty `end` of a
/// `range` with the wrong number of arguments.
fn stand_ins(errors: &[SyntaxError]) -> Vec<Span> {
    errors
        .iter()
        .filter_map(|e| match e {
            SyntaxError::ExpressionTooDeep { span } | SyntaxError::RangeArity { span, .. } => {
                Some(*span)
            }
            _ => None,
        })
        .collect()
}

/// An expression and all its nodes: each span is inside the source and its
/// parent's, and covers what the node is.
fn check_expr(
    src: &str,
    e: &Expr<'_>,
    stand_ins: &[Span],
    what: &str,
) -> Result<(), TestCaseError> {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        let span = e.span();
        check_span(src, span, what)?;
        let text = &src[span.range()];
        match e {
            Expr::Int(i) if stand_ins.contains(&i.span) => prop_assert_eq!(i.value, 0),
            Expr::Int(i) => {
                prop_assert!(
                    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
                    "{what}: integer spans {text:?}"
                );
                // As written, or the maximum when it overflows.
                prop_assert_eq!(text.parse::<u64>().unwrap_or(u64::MAX), i.value);
            }
            Expr::Name(n) => check_ident(src, *n, what)?,
            Expr::Neg(inner, _) => {
                prop_assert!(text.starts_with('-'), "{what}: negation spans {text:?}");
                check_inside(inner.span(), span, what)?;
                prop_assert!(inner.span().start > span.start);
                prop_assert_eq!(
                    between(src, inner.span().end as usize, span.end as usize),
                    ""
                );
                stack.push(inner);
            }
            Expr::Binary(b) => {
                let (l, r) = (b.lhs.span(), b.rhs.span());
                check_inside(l, span, what)?;
                check_inside(r, span, what)?;
                prop_assert!(l.end <= r.start, "{what}: operands out of order");
                prop_assert_eq!(between(src, span.start as usize, l.start as usize), "");
                prop_assert_eq!(
                    between(src, l.end as usize, r.start as usize),
                    b.op.symbol()
                );
                prop_assert_eq!(between(src, r.end as usize, span.end as usize), "");
                stack.push(&b.lhs);
                stack.push(&b.rhs);
            }
            Expr::Call(c) => {
                check_ident(src, c.name, what)?;
                prop_assert_eq!(c.name.span.start, span.start);
                prop_assert!(text.ends_with(')'), "{what}: call spans {text:?}");
                prop_assert!(!c.args.is_empty());
                let mut previous = c.name.span.end;
                for arg in &c.args {
                    check_inside(arg.span(), span, what)?;
                    prop_assert!(
                        previous <= arg.span().start,
                        "{what}: arguments out of order"
                    );
                    previous = arg.span().end;
                    stack.push(arg);
                }
            }
        }
    }
    Ok(())
}

fn check_program(
    src: &str,
    program: &Program<'_>,
    errors: &[SyntaxError],
) -> Result<(), TestCaseError> {
    let stand_ins = stand_ins(errors);
    let expr = |e: &Expr<'_>, outer: Span, what: &str| -> Result<(), TestCaseError> {
        check_expr(src, e, &stand_ins, what)?;
        check_inside(e.span(), outer, what)
    };
    for p in &program.params {
        check_span(src, p.span, "parameter")?;
        check_ident(src, p.name, "parameter name")?;
        prop_assert_eq!(p.name.span.start, p.span.start);
        match &p.default {
            None => prop_assert_eq!(p.name.span, p.span),
            Some(d) => {
                expr(d, p.span, "parameter default")?;
                prop_assert_eq!(
                    between(src, p.name.span.end as usize, d.span().start as usize),
                    "="
                );
                prop_assert_eq!(between(src, d.span().end as usize, p.span.end as usize), "");
            }
        }
    }
    for m in &program.matrices {
        check_span(src, m.span, "declaration")?;
        prop_assert!(src[m.span.range()].starts_with("matrix"));
        check_ident(src, m.name, "matrix name")?;
        check_ident(src, m.dtype, "dtype")?;
        if let Some(sym) = m.structure.map(|s| s.span) {
            check_span(src, sym, "sym")?;
            prop_assert!(["sym", "lower", "upper"].contains(&&src[sym.range()]));
        }
        for e in m.versions.iter().chain(&m.shape).chain(&m.tile) {
            expr(e, m.span, "dimension")?;
        }
        check_span(src, m.role.span, "role")?;
        check_inside(m.role.span, m.span, "role")?;
        if let Some(init) = &m.init {
            check_span(src, init.span, "initialiser")?;
            check_inside(init.span, m.span, "initialiser")?;
            check_ident(src, init.name, "initialiser name")?;
            prop_assert_eq!(src[init.span.range()].ends_with(')'), init.call);
            prop_assert!(init.call || init.args.is_empty());
            for arg in &init.args {
                expr(arg, init.span, "initialiser argument")?;
            }
        }
    }
    // Items, loop bodies included (the nesting is shallow in these inputs).
    let mut items: Vec<(&Item<'_>, Option<Span>)> =
        program.items.iter().map(|i| (i, None)).collect();
    let mut jobs = 0;
    while let Some((item, parent)) = items.pop() {
        match item {
            Item::Loop(l) => {
                check_span(src, l.span, "loop header")?;
                let header = &src[l.span.range()];
                prop_assert!(
                    header.starts_with("for") && header.ends_with('{'),
                    "a loop header spans {:?}",
                    header
                );
                check_ident(src, l.var, "loop variable")?;
                check_inside(l.var.span, l.span, "loop variable")?;
                // A range the builder could not use (the wrong number of
                // arguments, or a header that did not parse) is an empty
                // one: its end is a 0 spanning the header, where an error is.
                let header_error = errors.iter().any(|e| {
                    let at = e.span();
                    at.start >= l.span.start && at.end <= l.span.end
                });
                let stand_in = header_error
                    && matches!(&l.end, Expr::Int(i) if i.span == l.span && i.value == 0);
                let end = (!stand_in).then_some(&l.end);
                for e in l.start.iter().chain(end).chain(&l.step) {
                    expr(e, l.span, "range argument")?;
                }
                check_span(src, l.close, "loop close")?;
                let close = &src[l.close.range()];
                prop_assert!(
                    close == "}" || (close.is_empty() && l.close.start as usize == src.len()),
                    "a loop closes on {close:?}"
                );
                prop_assert!(l.span.end <= l.close.start);
                let whole = l.span.to(l.close);
                if let Some(parent) = parent {
                    check_inside(whole, parent, "nested loop")?;
                }
                items.extend(l.body.iter().map(|i| (i, Some(whole))));
            }
            Item::Job(job) => {
                jobs += 1;
                check_span(src, job.span, "job")?;
                if let Some(parent) = parent {
                    check_inside(job.span, parent, "job in a loop")?;
                }
                check_ident(src, job.label, "label")?;
                prop_assert_eq!(job.label.span.start, job.span.start);
                for e in &job.index {
                    expr(e, job.span, "label index")?;
                }
                for instr in &job.body {
                    check_span(src, instr.span, "instruction")?;
                    check_inside(instr.span, job.span, "instruction")?;
                    check_ident(src, instr.opcode, "opcode")?;
                    let regs =
                        instr
                            .dests
                            .iter()
                            .chain(instr.operands.iter().filter_map(|o| match o {
                                Operand::Reg(r) => Some(r),
                                Operand::Tile(_) => None,
                            }));
                    for reg in regs {
                        check_span(src, reg.span, "register")?;
                        prop_assert_eq!(&src[reg.span.range()][1..], reg.name);
                    }
                    for operand in &instr.operands {
                        check_inside(operand.span(), instr.span, "operand")?;
                        if let Operand::Tile(tile) = operand {
                            check_span(src, tile.span, "tile")?;
                            check_ident(src, tile.matrix, "tile matrix")?;
                            prop_assert!(src[tile.span.range()].ends_with(']'));
                            for e in &tile.index {
                                expr(e, tile.span, "tile index")?;
                            }
                        }
                    }
                }
            }
        }
    }
    prop_assert_eq!(jobs, program.jobs().count());
    Ok(())
}

fn check(src: &str) -> Result<(), TestCaseError> {
    let (program, errors) = parse(src);
    check_program(src, &program, &errors)?;
    for error in &errors {
        check_span(src, error.span(), "error")?;
        // Every message renders.
        prop_assert!(!error.to_string().is_empty());
    }
    Ok(())
}

/// Pieces the language is made of, and some it is not, so that random
/// strings get deep into the grammar instead of failing at the first byte.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("matrix ".to_string()),
        Just("sym ".to_string()),
        Just("tile ".to_string()),
        Just("input".to_string()),
        Just("for".to_string()),
        Just("for i in range(".to_string()),
        Just("for k in range(n) {\n".to_string()),
        Just("range".to_string()),
        Just(" in ".to_string()),
        Just("param ".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\n}\n".to_string()),
        Just(" + ".to_string()),
        Just("-".to_string()),
        Just("*".to_string()),
        Just("/".to_string()),
        Just("^".to_string()),
        Just(")".to_string()),
        Just("ceil(".to_string()),
        Just("k + 1".to_string()),
        Just("S[k, i, j]".to_string()),
        Just("syrk[1, 2]:".to_string()),
        Just("f64".to_string()),
        Just("%0".to_string()),
        Just("%".to_string()),
        Just("A[0, 1]".to_string()),
        Just("job:".to_string()),
        Just(" = ".to_string()),
        Just(", ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("(".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("; c".to_string()),
        Just("99999999999999999999".to_string()),
        "[0-9]{1,3}",
        "[A-Za-z_]{1,4}",
        any::<char>().prop_map(String::from),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), fragment()).prop_map(|(at, text)| Edit::Insert { at, text }),
    ]
}

/// Applies an edit at a char boundary chosen from `at`.
fn apply(src: &mut String, edit: &Edit) {
    let boundaries: Vec<usize> = src
        .char_indices()
        .map(|(i, _)| i)
        .chain([src.len()])
        .collect();
    match edit {
        Edit::Delete { at, len } => {
            let i = at % boundaries.len();
            let j = (i + len).min(boundaries.len() - 1);
            src.replace_range(boundaries[i]..boundaries[j], "");
        }
        Edit::Insert { at, text } => {
            src.insert_str(boundaries[at % boundaries.len()], text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(src in any::<String>()) {
        check(&src)?;
    }

    #[test]
    fn strings_of_language_fragments_never_panic(parts in prop::collection::vec(fragment(), 0..40)) {
        check(&parts.concat())?;
    }

    #[test]
    fn mutations_of_a_valid_program_never_panic(edits in prop::collection::vec(edit(), 1..8)) {
        let mut src = VALID.to_string();
        for e in &edits {
            apply(&mut src, e);
        }
        check(&src)?;
    }

    #[test]
    fn mutations_of_a_valid_loop_program_never_panic(edits in prop::collection::vec(edit(), 1..8)) {
        let mut src = VALID_LOOPS.to_string();
        for e in &edits {
            apply(&mut src, e);
        }
        check(&src)?;
    }
}

#[test]
fn the_unmutated_programs_are_valid() {
    let (program, errors) = parse(VALID);
    assert_eq!(errors, vec![]);
    assert_eq!(program.matrices.len(), 3);
    assert_eq!(
        program
            .jobs()
            .map(|j| (j.label.name, j.body.len()))
            .collect::<Vec<_>>(),
        vec![("chol_0", 4), ("trsm_1", 4), ("syrk_2", 4), ("chol_3", 3)]
    );
    check(VALID).unwrap();

    let (program, errors) = parse(VALID_LOOPS);
    assert_eq!(errors, vec![]);
    assert_eq!((program.params.len(), program.matrices.len()), (6, 3));
    assert_eq!(
        program
            .jobs()
            .map(|j| (j.label.name, j.body.len()))
            .collect::<Vec<_>>(),
        vec![("chol", 2), ("trsm", 2), ("syrk", 2), ("flat", 1)]
    );
    check(VALID_LOOPS).unwrap();
}

/// The checks themselves catch what they should: a stand-in integer is
/// accepted only where an error says so.
#[test]
fn the_checks_accept_the_stand_ins_of_errors() {
    let src = "for i in range() {\n}\nparam a = -(-(-(-(1))))\n";
    let (program, errors) = parse(src);
    assert_eq!(errors.len(), 1);
    check_program(src, &program, &errors).unwrap();
    assert!(check_program(src, &program, &[]).is_err());
}
