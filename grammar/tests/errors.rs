//! Malformed programs: every syntax error is reported, with its span and the
//! human-readable expected list, and the well-formed lines around it are kept.

use grammar::SyntaxError::{self, *};
use grammar::ast::Span;
use grammar::parse;

mod common;
use common::{span, within};

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

/// Opcode and operand names of every instruction, job by job.
fn bodies(src: &str) -> Vec<(String, Vec<String>)> {
    let (program, _) = parse(src);
    program
        .jobs
        .iter()
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
            unexpected(within(src, "[8 8]", "8", 1), "the integer `8`", &["`,`"]),
            unexpected(
                within(src, "CHOL %0 %0", "%0", 1),
                "the register `%0`",
                &["`,`", "a newline"]
            ),
            unexpected(
                within(src, "A[1, 0\n", "\n", 0),
                "the end of the line",
                &["`]`"]
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
            "expected `,`, found the integer `8`",
            "expected `,` or a newline, found the register `%0`",
            "expected `]`, found the end of the line",
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
                &["`:`"]
            ),
            unexpected(
                within(src, "M : [1", "[", 0),
                "`[`",
                &["`sym`", "a dtype such as `f64`"]
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
                &["`,`", "`)`"]
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
            unexpected(
                within(src, ", x", ",", 0),
                "`,`",
                &[
                    "`matrix`",
                    "a register such as `%0`",
                    "a label or an opcode",
                    "a newline"
                ]
            ),
        ]
    );
}

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
    assert_eq!(program.jobs.len(), 1);
    assert_eq!(program.jobs[0].body.len(), 1);
    assert_eq!(&src[program.jobs[0].span.range()], "j:\r\n    RET");
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
    let grammar::ast::Operand::Tile(tile) = &program.jobs[0].body[0].operands[0] else {
        panic!("expected a tile operand");
    };
    assert_eq!(tile.index.map(|i| i.value), [u64::MAX, u64::MAX]);
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
                &[
                    "a register such as `%0`",
                    "a tile such as `A[0, 0]`",
                    "`:`",
                    "a newline"
                ]
            ),
        ]
    );
}

#[test]
fn a_last_line_without_newline_still_parses() {
    let src = "j:\n    %0 = S3_LOAD A[0, 0]\n    RET";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    assert_eq!(
        bodies(src),
        vec![("j".to_string(), strings(&["%0 = S3_LOAD A[0, 0]", "RET"]))]
    );
    assert_eq!(&src[program.jobs[0].span.range()], src);

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
            expected: strings(&["`]`"])
        }]
    );
    assert_eq!(
        errors[0].to_string(),
        "unexpected end of file, expected `]`"
    );
    assert_eq!(program.jobs[0].body, vec![]);

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
temp:
range:
j:
    %0 = in %1
    S3_WRITE input[0, 0], %0
";
    let (program, errors) = parse(src);
    let loop_word = |w: &str| format!("`{w}`, a word reserved for a future loop form");
    let keyword = |w: &str| format!("`{w}`, a reserved keyword");
    let line_start = [
        "`matrix`",
        "a register such as `%0`",
        "a label or an opcode",
        "a newline",
    ];
    assert_eq!(
        errors,
        vec![
            unexpected(span(src, "for"), &loop_word("for"), &["a matrix name"]),
            unexpected(
                within(src, "matrix tile", "tile", 0),
                &keyword("tile"),
                &["a matrix name"]
            ),
            unexpected(
                within(src, "temp:", "temp", 0),
                &keyword("temp"),
                &line_start
            ),
            unexpected(span(src, "range"), &loop_word("range"), &line_start),
            unexpected(
                within(src, "= in", "in", 0),
                &loop_word("in"),
                &["an opcode"]
            ),
            unexpected(
                span(src, "input"),
                &keyword("input"),
                &[
                    "a register such as `%0`",
                    "a tile such as `A[0, 0]`",
                    "`:`",
                    "a newline"
                ]
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
    assert_eq!(m.shape.map(|i| i.value), [3, 5]);
    assert_eq!(m.tile.map(|i| i.value), [2, 2]);
    let init = m.init.as_ref().unwrap();
    assert_eq!((init.name.name, init.args[0].value), ("random", 7));
    assert_eq!(program.jobs.len(), 2);
    let instr = &program.jobs[0].body[0];
    assert_eq!(&src[instr.span.range()], "%acc=GEMM_NT %a,M[1,0]");
    assert_eq!(instr.dest.unwrap().name, "acc");
    assert_eq!(
        &src[program.jobs[0].span.range()],
        &src[span(src, "lab :").start as usize..instr.span.end as usize]
    );
    // A job with no instructions spans its label.
    assert_eq!(&src[program.jobs[1].span.range()], "other_job:");
}

#[test]
fn initialisers_take_any_number_of_integer_arguments() {
    let src = "\
matrix A : f64[1, 1] tile [1, 1] input = zeros
matrix B : f64[1, 1] tile [1, 1] input = identity()
matrix C : f64[1, 1] tile [1, 1] input = spd(1, 2, 3)
matrix D : f64[1, 1] tile [1, 1] input
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
                    i.args.iter().map(|a| a.value).collect::<Vec<_>>(),
                )
            })
        })
        .collect();
    assert_eq!(
        inits,
        vec![
            Some(("zeros", vec![])),
            Some(("identity", vec![])),
            Some(("spd", vec![1, 2, 3])),
            None
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
        &src[program.jobs[0].span.range()],
        "j:   \n    RET   \n    CHOL %0"
    );
}
