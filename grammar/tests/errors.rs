//! Malformed programs: every syntax error is reported, with its span and the
//! human-readable expected list, and the well-formed lines around it are kept.

use grammar::SyntaxError::{self, *};
use grammar::ast::{Expr, Item, Span};
use grammar::parse;

mod common;
use common::{lp, outline, span, value, within};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn unexpected(span: Span, found: &str, expected: &[&str]) -> SyntaxError {
    UnexpectedToken {
        span,
        found: found.to_string(),
        expected: strings(expected),
    }
}

/// The text of every instruction, job by job (loop bodies included, in
/// source order).
fn bodies(src: &str) -> Vec<(String, Vec<String>)> {
    let (program, _) = parse(src);
    program
        .jobs()
        .map(|job| {
            let lines = job
                .body
                .iter()
                .map(|i| src[i.span.range()].to_string())
                .collect();
            (job.label.name.to_string(), lines)
        })
        .collect()
}

const SEVERAL: &str = "\
matrix A : sym f64[8, 8] tile [4, 4] input
matrix B : f64[8 8] tile [4, 4] temp
job_0:
    %0 = S3_LOAD A[0, 0]
    %1 = CHOL %0 %0
    %2 = GEMM %0, A[1, 0
    S3_WRITE B[0, 0], %1
    RET
";

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let src = SEVERAL;
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            unexpected(
                within(src, "[8 8]", "8", 1),
                "the integer `8`",
                &["`,`", "an operator"]
            ),
            unexpected(
                within(src, "CHOL %0 %0", "%0", 1),
                "the register `%0`",
                &["`,`", "a newline"]
            ),
            unexpected(
                within(src, "A[1, 0\n", "\n", 0),
                "the end of the line",
                &["`,`", "`]`", "an operator"]
            ),
        ]
    );
    // The lines around the errors are kept; the bad ones are left out.
    assert_eq!(program.matrices.len(), 1);
    assert_eq!(program.matrices[0].name.name, "A");
    assert_eq!(
        bodies(src),
        vec![(
            "job_0".to_string(),
            strings(&["%0 = S3_LOAD A[0, 0]", "S3_WRITE B[0, 0], %1", "RET"])
        )]
    );
    assert_eq!(
        errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        strings(&[
            "expected `,` or an operator, found the integer `8`",
            "expected `,` or a newline, found the register `%0`",
            "expected `,`, `]` or an operator, found the end of the line",
        ])
    );
}

#[test]
fn expected_tokens_are_named_for_where_the_error_is() {
    let src = "\
matrix : f64[1, 1] tile [1, 1] temp
matrix M f64[1, 1] tile [1, 1] temp
matrix M : [1, 1] tile [1, 1] temp
matrix M : f64[1, 1] tile [1, 1]
matrix M : f64[1, 1] tile [1, 1] input = 3
matrix M : f64[1, 1] tile [1, 1] input = random(1 2)
j:
%0 = , %1
%0 = CHOL ]
CHOL %0,
, x
";
    let (_, errors) = parse(src);
    let newline = |line: &str| within(src, &format!("{line}\n"), "\n", 0);
    assert_eq!(
        errors,
        vec![
            unexpected(within(src, ": f64", ":", 0), "`:`", &["a matrix name"]),
            unexpected(
                within(src, "M f64", "f64", 0),
                "the identifier `f64`",
                // `[` would start the versions of a matrix, `S[nt]`.
                &["`:`", "`[`"]
            ),
            unexpected(
                within(src, "M : [1", "[", 0),
                "`[`",
                &[
                    "a structure (`sym`, `lower` or `upper`)",
                    "a dtype such as `f64`"
                ]
            ),
            unexpected(
                newline("matrix M : f64[1, 1] tile [1, 1]"),
                "the end of the line",
                &["a role (`input`, `output` or `temp`)"]
            ),
            unexpected(
                within(src, "= 3", "3", 0),
                "the integer `3`",
                &["an initialiser such as `zeros` or `spd(42)`"]
            ),
            unexpected(
                within(src, "random(1 2)", "2", 0),
                "the integer `2`",
                &["`,`", "`)`", "an operator"]
            ),
            unexpected(within(src, ", %1", ",", 0), "`,`", &["an opcode"]),
            unexpected(
                within(src, "CHOL ]", "]", 0),
                "`]`",
                &[
                    "a register such as `%0`",
                    "a tile such as `A[0, 0]`",
                    "a newline"
                ]
            ),
            unexpected(
                newline("CHOL %0,"),
                "the end of the line",
                &["a register such as `%0`", "a tile such as `A[0, 0]`"]
            ),
            unexpected(within(src, ", x", ",", 0), "`,`", &LINE_START),
        ]
    );
}

/// What may start a line.
const LINE_START: [&str; 7] = [
    "`for`",
    "`matrix`",
    "`param`",
    "`}`",
    "a register such as `%0`",
    "a label or an opcode",
    "a newline",
];

#[test]
fn invalid_characters_are_reported_once_per_run_and_the_line_is_dropped() {
    let src = "j:\n    %0 = CHOL %1 ## é\n    $\n    % = RET\n    RET\n";
    let (_, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            InvalidToken {
                span: span(src, "##")
            },
            InvalidToken {
                span: span(src, "é")
            },
            InvalidToken {
                span: span(src, "$")
            },
            InvalidToken {
                span: within(src, "% =", "%", 0)
            },
        ]
    );
    assert_eq!(bodies(src), vec![("j".to_string(), strings(&["RET"]))]);
    // Every reported span lies on character boundaries, even around `é`.
    for e in &errors {
        assert!(src.get(e.span().range()).is_some());
    }
}

#[test]
fn a_lone_carriage_return_is_invalid_but_crlf_ends_a_line() {
    let src = "j:\r\n    RET\r\n    RET\r    RET\r\n";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![InvalidToken {
            span: within(src, "RET\r ", "\r", 0)
        }]
    );
    let jobs: Vec<_> = program.jobs().collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].body.len(), 1);
    assert_eq!(&src[jobs[0].span.range()], "j:\r\n    RET");
}

#[test]
fn an_integer_overflowing_u64_is_an_error_and_parsing_continues() {
    let src =
        "j:\n    %0 = S3_LOAD A[18446744073709551616, 18446744073709551615]\n    %1 = CHOL %0 %0\n";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            IntegerOverflow {
                span: span(src, "18446744073709551616")
            },
            unexpected(
                within(src, "CHOL %0 %0", "%0", 1),
                "the register `%0`",
                &["`,`", "a newline"]
            ),
        ]
    );
    let job = program.jobs().next().unwrap();
    let grammar::ast::Operand::Tile(tile) = &job.body[0].operands[0] else {
        panic!("expected a tile operand");
    };
    assert_eq!(
        tile.index.iter().map(value).collect::<Vec<_>>(),
        vec![u64::MAX, u64::MAX]
    );
    assert_eq!(
        errors[0].help(),
        Some("integers must be at most 18446744073709551615")
    );
}

#[test]
fn an_overflowing_integer_where_it_does_not_belong_is_named_as_written() {
    let src = "j:\n    CHOL 99999999999999999999\n";
    let (_, errors) = parse(src);
    let digits = span(src, "99999999999999999999");
    assert_eq!(
        errors,
        vec![
            IntegerOverflow { span: digits },
            unexpected(
                digits,
                "the integer `99999999999999999999`",
                &AFTER_LINE_START_WORD
            ),
        ]
    );
}

/// What may follow the first word of a line: operands of an instruction, or
/// the `:` or `[` of a label.
const AFTER_LINE_START_WORD: [&str; 5] = [
    "a register such as `%0`",
    "a tile such as `A[0, 0]`",
    "`:`",
    "`[`",
    "a newline",
];

#[test]
fn a_last_line_without_newline_still_parses() {
    let src = "j:\n    %0 = S3_LOAD A[0, 0]\n    RET";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    assert_eq!(
        bodies(src),
        vec![("j".to_string(), strings(&["%0 = S3_LOAD A[0, 0]", "RET"]))]
    );
    assert_eq!(&src[program.jobs().next().unwrap().span.range()], src);

    let src = "j:\n    RET ; done";
    // Trailing blanks and comments are outside every span.
    assert_eq!(parse(src).1, vec![]);
    assert_eq!(bodies(src), vec![("j".to_string(), strings(&["RET"]))]);
}

#[test]
fn a_construct_cut_short_by_the_end_of_the_file() {
    let src = "j:\n    %2 = GEMM %0, A[1, 0";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![UnexpectedEof {
            span: Span::new(src.len(), src.len()),
            expected: strings(&["`,`", "`]`", "an operator"])
        }]
    );
    assert_eq!(
        errors[0].to_string(),
        "unexpected end of file, expected `,`, `]` or an operator"
    );
    assert_eq!(program.jobs().next().unwrap().body, vec![]);

    let src = "matrix M : sym";
    assert_eq!(
        parse(src).1,
        vec![UnexpectedEof {
            span: Span::new(src.len(), src.len()),
            expected: strings(&["a dtype such as `f64`"])
        }]
    );
}

#[test]
fn reserved_words_are_not_identifiers() {
    let src = "\
matrix for : f64[1, 1] tile [1, 1] temp
matrix tile : f64[1, 1] tile [1, 1] temp
matrix param : f64[1, 1] tile [1, 1] temp
temp:
range:
j:
    %0 = in %1
    S3_WRITE input[0, 0], %0
    S3_WRITE A[for, 0], %0
";
    let (program, errors) = parse(src);
    let keyword = |w: &str| format!("`{w}`, a reserved keyword");
    assert_eq!(
        errors,
        vec![
            unexpected(span(src, "for"), &keyword("for"), &["a matrix name"]),
            unexpected(
                within(src, "matrix tile", "tile", 0),
                &keyword("tile"),
                &["a matrix name"]
            ),
            unexpected(
                within(src, "matrix param", "param", 0),
                &keyword("param"),
                &["a matrix name"]
            ),
            unexpected(
                within(src, "temp:", "temp", 0),
                &keyword("temp"),
                &LINE_START
            ),
            unexpected(span(src, "range"), &keyword("range"), &LINE_START),
            unexpected(within(src, "= in", "in", 0), &keyword("in"), &["an opcode"]),
            unexpected(
                span(src, "input"),
                &keyword("input"),
                &AFTER_LINE_START_WORD
            ),
            unexpected(
                within(src, "A[for", "for", 0),
                &keyword("for"),
                &["an expression"]
            ),
        ]
    );
    assert!(program.matrices.is_empty());
    assert_eq!(bodies(src), vec![("j".to_string(), vec![])]);
}

#[test]
fn instructions_outside_a_job_are_reported_once_per_run() {
    let src = "\
%0 = S3_LOAD A[0, 0]
RET
job_0:
    RET
matrix B : f64[1, 1] tile [1, 1] temp
    S3_WRITE B[0, 0], %0
    RET
job_1:
    RET
";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            InstructionOutsideJob {
                span: span(src, "%0 = S3_LOAD A[0, 0]")
            },
            InstructionOutsideJob {
                span: span(src, "S3_WRITE B[0, 0], %0")
            },
        ]
    );
    assert_eq!(errors[0].to_string(), "instruction outside a job");
    assert_eq!(
        errors[0].help(),
        Some("instructions must be inside a job; add a label such as `job_0:` above")
    );
    assert_eq!(program.matrices.len(), 1);
    assert_eq!(
        bodies(src),
        vec![
            ("job_0".to_string(), strings(&["RET"])),
            ("job_1".to_string(), strings(&["RET"])),
        ]
    );
}

#[test]
fn a_bad_line_inside_a_job_does_not_end_the_job() {
    let src = "j:\n    %0 = S3_LOAD A[0 0]\n    RET\n";
    let (_, errors) = parse(src);
    assert_eq!(errors.len(), 1);
    assert_eq!(bodies(src), vec![("j".to_string(), strings(&["RET"]))]);
}

#[test]
fn blank_and_comment_lines_and_odd_spacing_are_accepted() {
    let src = "\n; header\n\n\tmatrix\tM:sym f64 [3,5]tile[2 ,2] input=random ( 7 ) ;c\n\nlab :\n\n  ; c\n %acc=GEMM_NT %a,M[1,0] ; c\n\nother_job:\n";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let m = &program.matrices[0];
    assert_eq!(
        &src[m.span.range()],
        "matrix\tM:sym f64 [3,5]tile[2 ,2] input=random ( 7 )"
    );
    assert_eq!(m.shape.each_ref().map(value), [3, 5]);
    assert_eq!(m.tile.each_ref().map(value), [2, 2]);
    let init = m.init.as_ref().unwrap();
    assert_eq!((init.name.name, value(&init.args[0])), ("random", 7));
    let jobs: Vec<_> = program.jobs().collect();
    assert_eq!(jobs.len(), 2);
    let instr = &jobs[0].body[0];
    assert_eq!(&src[instr.span.range()], "%acc=GEMM_NT %a,M[1,0]");
    assert_eq!(instr.dests[0].name, "acc");
    assert_eq!(
        &src[jobs[0].span.range()],
        &src[span(src, "lab :").start as usize..instr.span.end as usize]
    );
    // A job with no instructions spans its label.
    assert_eq!(&src[jobs[1].span.range()], "other_job:");
}

#[test]
fn initialisers_take_any_number_of_expression_arguments() {
    let src = "\
matrix A : f64[1, 1] tile [1, 1] input = zeros
matrix B : f64[1, 1] tile [1, 1] input = identity()
matrix C : f64[1, 1] tile [1, 1] input = spd(1, 2, 3)
matrix D : f64[1, 1] tile [1, 1] input
matrix E : f64[1, 1] tile [1, 1] input = random(2 * seed + 1)
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let inits: Vec<_> = program
        .matrices
        .iter()
        .map(|m| {
            m.init.as_ref().map(|i| {
                (
                    i.name.name,
                    i.call,
                    i.args
                        .iter()
                        .map(|a| &src[a.span().range()])
                        .collect::<Vec<_>>(),
                )
            })
        })
        .collect();
    assert_eq!(
        inits,
        vec![
            Some(("zeros", false, vec![])),
            Some(("identity", true, vec![])),
            Some(("spd", true, vec!["1", "2", "3"])),
            None,
            Some(("random", true, vec!["2 * seed + 1"])),
        ]
    );
}

#[test]
fn empty_and_comment_only_sources_are_empty_programs() {
    for src in ["", "\n\n", "; nothing here", "; one\r\n; two\n"] {
        let (program, errors) = parse(src);
        assert_eq!(errors, vec![], "{src:?}");
        assert_eq!(program, grammar::ast::Program::default(), "{src:?}");
    }
}

#[test]
fn spans_end_at_the_last_token_of_a_line() {
    let src = "matrix M : f64[1, 1] tile [1, 1] temp   ; c\nj:   \n    RET   \n    CHOL %0 ; c\n";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    assert_eq!(
        &src[program.matrices[0].span.range()],
        "matrix M : f64[1, 1] tile [1, 1] temp"
    );
    assert_eq!(
        bodies(src),
        vec![("j".to_string(), strings(&["RET", "CHOL %0"]))]
    );
    assert_eq!(
        &src[program.jobs().next().unwrap().span.range()],
        "j:   \n    RET   \n    CHOL %0"
    );
}

#[test]
fn a_closing_brace_without_an_open_loop_is_reported_and_skipped() {
    let src = "\
}
for i in range(n) {
    a:
}
}
b:
    RET
";
    let (program, errors) = parse(src);
    let braces: Vec<Span> = src
        .match_indices('}')
        .map(|(i, _)| Span::new(i, i + 1))
        .collect();
    assert_eq!(
        errors,
        vec![
            UnmatchedBrace { span: braces[0] },
            UnmatchedBrace { span: braces[2] },
        ]
    );
    assert_eq!(errors[0].to_string(), "`}` without an open loop");
    assert_eq!(errors[0].help(), None);
    assert_eq!(outline(&program), vec!["for i { a }", "b"]);
    assert_eq!(lp(&program.items[0]).close, braces[1]);
    assert_eq!(bodies(src)[1], ("b".to_string(), strings(&["RET"])));
}

#[test]
fn loops_left_open_at_the_end_of_the_file_run_to_it() {
    let src = "\
for k in range(n) {
    a:
        RET
    for i in range(k) {
        b:
            RET";
    let (program, errors) = parse(src);
    let outer = span(src, "for k in range(n) {");
    let inner = span(src, "for i in range(k) {");
    // One error per loop, in source order.
    assert_eq!(
        errors,
        vec![UnclosedLoop { span: outer }, UnclosedLoop { span: inner }]
    );
    assert_eq!(errors[0].to_string(), "loop is never closed");
    assert_eq!(
        errors[0].help(),
        Some("close the loop body with a `}` line")
    );
    // Nothing is lost: the loops hold their bodies, closed by an empty span at
    // the end of the file.
    assert_eq!(outline(&program), vec!["for k { a, for i { b } }"]);
    let eof = Span::new(src.len(), src.len());
    let k = lp(&program.items[0]);
    let i = lp(&k.body[1]);
    assert_eq!((k.close, i.close), (eof, eof));
    assert_eq!(
        bodies(src),
        vec![
            ("a".to_string(), strings(&["RET"])),
            ("b".to_string(), strings(&["RET"])),
        ]
    );
}

#[test]
fn declarations_inside_a_loop_are_reported_and_kept() {
    let src = "\
for k in range(n) {
    a:
        RET
    matrix M : f64[1, 1] tile [1, 1] temp
        RET
    for i in range(k) {
        param p = 1, q  ; c
    }
}
matrix N : f64[1, 1] tile [1, 1] temp
";
    let (program, errors) = parse(src);
    let outer = span(src, "for k in range(n) {");
    let inner = span(src, "for i in range(k) {");
    assert_eq!(
        errors,
        vec![
            DeclarationInLoop {
                span: span(src, "matrix M : f64[1, 1] tile [1, 1] temp"),
                loop_header: outer,
            },
            // The declaration ended job `a`: the RET after it has no job.
            InstructionOutsideJob {
                span: within(src, "temp\n        RET", "RET", 0)
            },
            DeclarationInLoop {
                span: span(src, "param p = 1, q"),
                loop_header: inner,
            },
        ]
    );
    assert_eq!(errors[0].to_string(), "declaration inside a loop");
    assert_eq!(
        errors[0].help(),
        Some(
            "move the declaration above the loop: parameters and matrices are declared once, at the top level"
        )
    );
    assert_eq!(
        program
            .matrices
            .iter()
            .map(|m| m.name.name)
            .collect::<Vec<_>>(),
        vec!["M", "N"]
    );
    assert_eq!(
        program
            .params
            .iter()
            .map(|p| p.name.name)
            .collect::<Vec<_>>(),
        vec!["p", "q"]
    );
    assert_eq!(outline(&program), vec!["for k { a, for i {} }"]);
}

#[test]
fn range_takes_one_to_three_arguments() {
    let src = "\
for i in range() {
    a:
}
for j in range(1, 2, 3, 4) {
    b:
}
";
    let (program, errors) = parse(src);
    let none = span(src, "for i in range() {");
    let four = span(src, "for j in range(1, 2, 3, 4) {");
    assert_eq!(
        errors,
        vec![
            RangeArity {
                span: none,
                found: 0
            },
            RangeArity {
                span: four,
                found: 4
            },
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "`range` takes 1 to 3 arguments, found 0"
    );
    assert_eq!(
        errors[1].to_string(),
        "`range` takes 1 to 3 arguments, found 4"
    );
    assert_eq!(
        errors[1].help(),
        Some("write `range(END)`, `range(START, END)` or `range(START, END, STEP)`")
    );
    // The loops are kept, with an empty range (end 0, on the header), so
    // their bodies are still checked and their `}` still match.
    assert_eq!(outline(&program), vec!["for i { a }", "for j { b }"]);
    for (item, header) in program.items.iter().zip([none, four]) {
        let l = lp(item);
        assert_eq!((&l.start, &l.step), (&None, &None));
        assert_eq!(value(&l.end), 0);
        assert_eq!(l.end.span(), header);
    }
}

#[test]
fn where_an_expression_may_start_the_expected_list_says_so() {
    let src = "\
param a =
matrix M[ : f64[1, 1] tile [1, 1] temp
matrix M : f64[1, *] tile [1, 1] temp
for i in range(
for i in range(1, ) {
lab[]:
j:
    CHOL A[
    CHOL A[1 + ]
    CHOL A[f(]
    CHOL A[(]
";
    let (_, errors) = parse(src);
    let newline = |line: &str| within(src, &format!("{line}\n"), "\n", 0);
    let expression = ["an expression"];
    assert_eq!(
        errors,
        vec![
            unexpected(newline("param a ="), "the end of the line", &expression),
            unexpected(within(src, "M[ :", ":", 0), "`:`", &expression),
            unexpected(within(src, "1, *]", "*", 0), "`*`", &expression),
            // `range()` is allowed (and reported as an arity error).
            unexpected(
                newline("for i in range("),
                "the end of the line",
                &["an expression", "`)`"]
            ),
            // A bad header ending in `{` still opens its loop, which this
            // text never closes.
            UnclosedLoop {
                span: span(src, "for i in range(1, ) {")
            },
            unexpected(within(src, "1, ) {", ")", 0), "`)`", &expression),
            unexpected(within(src, "lab[]", "]", 0), "`]`", &expression),
            unexpected(newline("    CHOL A["), "the end of the line", &expression),
            unexpected(within(src, "1 + ]", "]", 0), "`]`", &expression),
            unexpected(within(src, "f(]", "]", 0), "`]`", &expression),
            unexpected(within(src, "A[(]", "]", 0), "`]`", &expression),
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "expected an expression, found the end of the line"
    );
}

#[test]
fn after_an_expression_the_expected_list_names_the_operators_once() {
    let src = "\
param a = 1 b
param a = (n x
matrix M : f64[n n] tile [1, 1] temp
for i in range(n x
for i in range(n) x
lab[k 1]:
j:
    CHOL A[k 1]
    CHOL A[k, 2^3 4]
";
    let (_, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            unexpected(
                within(src, "1 b", "b", 0),
                "the identifier `b`",
                &["`,`", "a newline", "an operator"]
            ),
            // After a name, `(` would make it a call.
            unexpected(
                within(src, "(n x", "x", 0),
                "the identifier `x`",
                &["`(`", "`)`", "an operator"]
            ),
            unexpected(
                within(src, "n n]", "n", 1),
                "the identifier `n`",
                &["`,`", "`(`", "an operator"]
            ),
            unexpected(
                within(src, "range(n x", "x", 0),
                "the identifier `x`",
                &["`,`", "`(`", "`)`", "an operator"]
            ),
            unexpected(within(src, "(n) x", "x", 0), "the identifier `x`", &["`{`"]),
            unexpected(
                within(src, "lab[k 1]", "1", 0),
                "the integer `1`",
                &["`,`", "`]`", "`(`", "an operator"]
            ),
            unexpected(
                within(src, "A[k 1]", "1", 0),
                "the integer `1`",
                &["`,`", "`]`", "`(`", "an operator"]
            ),
            unexpected(
                within(src, "2^3 4", "4", 0),
                "the integer `4`",
                &["`,`", "`]`", "an operator"]
            ),
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "expected `,`, a newline or an operator, found the identifier `b`"
    );
}

#[test]
fn a_bad_line_inside_a_loop_does_not_close_it_or_lose_what_follows() {
    let src = "\
for k in range(nt) {
    chol:
        %l = CHOL S[k, k k]
        S3_WRITE L[k, k], %l
    bad label:
        RET
    for i in range(k + 1, nt) {
        trsm:
            %x = TRSM_RLT S[k, i, k], L[k, k] $
            S3_WRITE L[i, k], %x
        matrix M : f64[1, 1] tile
        for j in range(k + 1, i + 1) {
            syrk:
                %s = SYRK S[k, i, j], L[i, k], L[j, k]
                S3_WRITE S[k + 1, i, j], %s
        }
    }
    after:
        RET
}
last:
";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![
            unexpected(
                within(src, "k k]", "k", 1),
                "the identifier `k`",
                &["`,`", "`]`", "`(`", "an operator"]
            ),
            // `bad label` reads as an instruction up to the `:`.
            unexpected(within(src, "bad label:", ":", 0), "`:`", &["`[`"]),
            InvalidToken {
                span: span(src, "$")
            },
            unexpected(
                within(src, "tile\n", "\n", 0),
                "the end of the line",
                &["`[`"]
            ),
        ]
    );
    // Every loop still holds its body, and every good line is where it was:
    // the bad label line did not start a job, so its RET joined `chol`.
    assert_eq!(
        outline(&program),
        vec![
            "for k { chol, for i { trsm, for j { syrk } }, after }",
            "last"
        ]
    );
    assert_eq!(
        bodies(src),
        vec![
            (
                "chol".to_string(),
                strings(&["S3_WRITE L[k, k], %l", "RET"])
            ),
            ("trsm".to_string(), strings(&["S3_WRITE L[i, k], %x"])),
            (
                "syrk".to_string(),
                strings(&[
                    "%s = SYRK S[k, i, j], L[i, k], L[j, k]",
                    "S3_WRITE S[k + 1, i, j], %s"
                ])
            ),
            ("after".to_string(), strings(&["RET"])),
            ("last".to_string(), vec![]),
        ]
    );
    let k = lp(&program.items[0]);
    assert_eq!(&src[k.close.range()], "}");
    assert_eq!(k.close.start as usize, src.rfind("}\n").unwrap());
    assert!(matches!(k.body[2], Item::Job(_)));
}

#[test]
fn a_bad_loop_header_still_opens_its_loop() {
    // A header line ending in `{` opens a loop over nothing, so that its
    // `}` matches and its body stays a loop body; its variable, and the
    // names of a bad `param` or `matrix` line, are kept as unparsed names
    // (their uses are not errors of their own).
    let src = "\
param n = 4 @, m = (1, 2), k
matrix A : f64[n, n] tile [1 1] input
  for i in range(n {
    a:
  }
for in range(3) {
    b:
}
";
    let (program, errors) = parse(src);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_eq!(
        errors[2],
        unexpected(
            within(src, "n {", "{", 0),
            "`{`",
            &["`,`", "`(`", "`)`", "an operator"]
        )
    );
    assert_eq!(outline(&program), vec!["for i { a }", "b"]);
    let Item::Loop(l) = &program.items[0] else {
        panic!("{:?}", program.items[0])
    };
    assert_eq!(&src[l.span.range()], "for i in range(n {");
    assert_eq!(program.unparsed_names, ["n", "m", "k", "A", "i"]);
}

#[test]
fn overflowing_integers_in_expressions_are_kept_as_the_maximum() {
    let src = "param a = 1 + 18446744073709551616\n";
    let (program, errors) = parse(src);
    assert_eq!(
        errors,
        vec![IntegerOverflow {
            span: span(src, "18446744073709551616")
        }]
    );
    let Some(Expr::Binary(sum)) = &program.params[0].default else {
        panic!("expected a sum");
    };
    assert_eq!((value(&sum.lhs), value(&sum.rhs)), (1, u64::MAX));
}
