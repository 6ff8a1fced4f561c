//! Well-formed programs: the full tree, with spans checked against the text.

use grammar::ast::*;
use grammar::parse;

mod common;
use common::{ident, int, reg, span, within};

const EXAMPLE: &str = "\
; a comment runs from ';' to the end of the line
matrix A    : sym f64[8192, 8192] tile [4096, 4096] input = spd(42)
matrix L    : f64[8192, 8192] tile [4096, 4096] output
matrix S1   : sym f64[8192, 8192] tile [4096, 4096] temp

local_0:
    %0 = S3_LOAD A[0, 0]
    %1 = CHOL %0
    S3_WRITE L[0, 0], %1
    RET
";

#[test]
fn the_reference_example_parses_to_the_full_tree() {
    let src = EXAMPLE;
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);

    let a = "matrix A    : sym f64[8192, 8192] tile [4096, 4096] input = spd(42)";
    let l = "matrix L    : f64[8192, 8192] tile [4096, 4096] output";
    let s1 = "matrix S1   : sym f64[8192, 8192] tile [4096, 4096] temp";
    let expected_matrices = vec![
        MatrixDecl {
            name: ident(src, a, "A"),
            symmetric: Some(within(src, a, "sym", 0)),
            dtype: ident(src, a, "f64"),
            shape: [int(src, a, "8192", 0), int(src, a, "8192", 1)],
            tile: [int(src, a, "4096", 0), int(src, a, "4096", 1)],
            role: Role {
                kind: RoleKind::Input,
                span: within(src, a, "input", 0),
            },
            init: Some(Init {
                name: ident(src, a, "spd"),
                args: vec![int(src, a, "42", 0)],
                span: within(src, a, "spd(42)", 0),
            }),
            span: span(src, a),
        },
        MatrixDecl {
            name: ident(src, l, "L"),
            symmetric: None,
            dtype: ident(src, l, "f64"),
            shape: [int(src, l, "8192", 0), int(src, l, "8192", 1)],
            tile: [int(src, l, "4096", 0), int(src, l, "4096", 1)],
            role: Role {
                kind: RoleKind::Output,
                span: within(src, l, "output", 0),
            },
            init: None,
            span: span(src, l),
        },
        MatrixDecl {
            name: ident(src, s1, "S1"),
            symmetric: Some(within(src, s1, "sym", 0)),
            dtype: ident(src, s1, "f64"),
            shape: [int(src, s1, "8192", 0), int(src, s1, "8192", 1)],
            tile: [int(src, s1, "4096", 0), int(src, s1, "4096", 1)],
            role: Role {
                kind: RoleKind::Temp,
                span: within(src, s1, "temp", 0),
            },
            init: None,
            span: span(src, s1),
        },
    ];
    let load = "%0 = S3_LOAD A[0, 0]";
    let chol = "%1 = CHOL %0";
    let write = "S3_WRITE L[0, 0], %1";
    let expected_jobs = vec![Job {
        label: ident(src, "local_0:", "local_0"),
        body: vec![
            Instr {
                dest: Some(reg(src, load, "%0")),
                opcode: ident(src, load, "S3_LOAD"),
                operands: vec![Operand::Tile(TileRef {
                    matrix: ident(src, "A[0, 0]", "A"),
                    index: [int(src, load, "0", 1), int(src, load, "0", 2)],
                    span: within(src, load, "A[0, 0]", 0),
                })],
                span: span(src, load),
            },
            Instr {
                dest: Some(reg(src, chol, "%1")),
                opcode: ident(src, chol, "CHOL"),
                operands: vec![Operand::Reg(reg(src, chol, "%0"))],
                span: span(src, chol),
            },
            Instr {
                dest: None,
                opcode: ident(src, write, "S3_WRITE"),
                operands: vec![
                    Operand::Tile(TileRef {
                        matrix: ident(src, write, "L"),
                        index: [int(src, write, "0", 0), int(src, write, "0", 1)],
                        span: within(src, write, "L[0, 0]", 0),
                    }),
                    Operand::Reg(reg(src, write, "%1")),
                ],
                span: span(src, write),
            },
            Instr {
                dest: None,
                opcode: ident(src, "RET", "RET"),
                operands: vec![],
                span: span(src, "RET"),
            },
        ],
        span: Span::new(src.find("local_0:").unwrap(), src.find("RET").unwrap() + 3),
    }];
    assert_eq!(program.matrices, expected_matrices);
    assert_eq!(program.jobs, expected_jobs);

    // The spans, read back as text.
    let text = |s: Span| &src[s.range()];
    assert_eq!(
        text(program.matrices[0].span),
        "matrix A    : sym f64[8192, 8192] tile [4096, 4096] input = spd(42)"
    );
    assert_eq!(text(program.matrices[0].name.span), "A");
    assert_eq!(text(program.matrices[2].role.span), "temp");
    assert_eq!(
        text(program.matrices[0].init.as_ref().unwrap().span),
        "spd(42)"
    );
    let job = &program.jobs[0];
    assert_eq!(text(job.label.span), "local_0");
    assert!(text(job.span).starts_with("local_0:\n    %0 = S3_LOAD"));
    assert!(text(job.span).ends_with("%1\n    RET"));
    assert_eq!(text(job.body[0].span), "%0 = S3_LOAD A[0, 0]");
    assert_eq!(text(job.body[0].dest.unwrap().span), "%0");
    assert_eq!(job.body[0].dest.unwrap().name, "0");
    assert_eq!(text(job.body[2].operands[0].span()), "L[0, 0]");
    assert_eq!(text(job.body[2].operands[1].span()), "%1");
}
