//! Well-formed programs: the full tree, with spans checked against the text.

use grammar::ast::*;
use grammar::parse;

mod common;
use common::{
    binary, binary_spanning, call, ident, ident_word, int, job, lp, name, neg, num, outline, reg,
    span, value, within, word,
};

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

fn lit(i: Int) -> Expr<'static> {
    Expr::Int(i)
}

#[test]
fn the_reference_example_parses_to_the_full_tree() {
    let src = EXAMPLE;
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);

    let a = "matrix A    : sym f64[8192, 8192] tile [4096, 4096] input = spd(42)";
    let l = "matrix L    : f64[8192, 8192] tile [4096, 4096] output";
    let s1 = "matrix S1   : sym f64[8192, 8192] tile [4096, 4096] temp";
    let dims =
        |line: &str, text: &str| [lit(int(src, line, text, 0)), lit(int(src, line, text, 1))];
    let expected_matrices = vec![
        MatrixDecl {
            name: ident(src, a, "A"),
            versions: vec![],
            structure: Some(Structure {
                kind: StructureKind::Sym,
                span: within(src, a, "sym", 0),
            }),
            dtype: ident(src, a, "f64"),
            shape: dims(a, "8192"),
            tile: dims(a, "4096"),
            role: Role {
                kind: RoleKind::Input,
                span: within(src, a, "input", 0),
            },
            init: Some(Init {
                name: ident(src, a, "spd"),
                args: vec![lit(int(src, a, "42", 0))],
                call: true,
                span: within(src, a, "spd(42)", 0),
            }),
            span: span(src, a),
        },
        MatrixDecl {
            name: ident(src, l, "L"),
            versions: vec![],
            structure: None,
            dtype: ident(src, l, "f64"),
            shape: dims(l, "8192"),
            tile: dims(l, "4096"),
            role: Role {
                kind: RoleKind::Output,
                span: within(src, l, "output", 0),
            },
            init: None,
            span: span(src, l),
        },
        MatrixDecl {
            name: ident(src, s1, "S1"),
            versions: vec![],
            structure: Some(Structure {
                kind: StructureKind::Sym,
                span: within(src, s1, "sym", 0),
            }),
            dtype: ident(src, s1, "f64"),
            shape: dims(s1, "8192"),
            tile: dims(s1, "4096"),
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
    let expected_items = vec![Item::Job(Job {
        label: ident(src, "local_0:", "local_0"),
        index: vec![],
        priority: None,
        body: vec![
            Instr {
                dests: vec![reg(src, load, "%0")],
                opcode: ident(src, load, "S3_LOAD"),
                operands: vec![Operand::Tile(TileRef {
                    matrix: ident(src, "A[0, 0]", "A"),
                    index: vec![lit(int(src, load, "0", 1)), lit(int(src, load, "0", 2))],
                    span: within(src, load, "A[0, 0]", 0),
                })],
                span: span(src, load),
            },
            Instr {
                dests: vec![reg(src, chol, "%1")],
                opcode: ident(src, chol, "CHOL"),
                operands: vec![Operand::Reg(reg(src, chol, "%0"))],
                span: span(src, chol),
            },
            Instr {
                dests: vec![],
                opcode: ident(src, write, "S3_WRITE"),
                operands: vec![
                    Operand::Tile(TileRef {
                        matrix: ident(src, write, "L"),
                        index: vec![lit(int(src, write, "0", 0)), lit(int(src, write, "0", 1))],
                        span: within(src, write, "L[0, 0]", 0),
                    }),
                    Operand::Reg(reg(src, write, "%1")),
                ],
                span: span(src, write),
            },
            Instr {
                dests: vec![],
                opcode: ident(src, "RET", "RET"),
                operands: vec![],
                span: span(src, "RET"),
            },
        ],
        span: Span::new(src.find("local_0:").unwrap(), src.find("RET").unwrap() + 3),
    })];
    assert_eq!(program.params, vec![]);
    assert_eq!(program.matrices, expected_matrices);
    assert_eq!(program.items, expected_items);
    assert!(!program.has_loops());

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
    let jobs: Vec<&Job> = program.jobs().collect();
    assert_eq!(jobs.len(), 1);
    let job = jobs[0];
    assert_eq!(text(job.label.span), "local_0");
    assert!(text(job.span).starts_with("local_0:\n    %0 = S3_LOAD"));
    assert!(text(job.span).ends_with("%1\n    RET"));
    assert_eq!(text(job.body[0].span), "%0 = S3_LOAD A[0, 0]");
    assert_eq!(text(job.body[0].dests[0].span), "%0");
    assert_eq!(job.body[0].dests[0].name, "0");
    assert_eq!(text(job.body[2].operands[0].span()), "L[0, 0]");
    assert_eq!(text(job.body[2].operands[1].span()), "%1");
}

const CHOLESKY: &str = "\
param n = 4096, b = 512, seed = 42, nt = ceil(n / b)
matrix A : sym f64[n, n] tile [b, b] input = spd(seed)
matrix L : f64[n, n] tile [b, b] output
matrix S[nt] : sym f64[n, n] tile [b, b] temp = A
for k in range(nt) {
    chol:
        %l = CHOL S[k, k, k]
        S3_WRITE L[k, k], %l
    for i in range(k + 1, nt) {
        trsm:
            %x = TRSM_RLT S[k, i, k], L[k, k]
            S3_WRITE L[i, k], %x
        for j in range(k + 1, i + 1) {
            syrk:
                %s = SYRK S[k, i, j], L[i, k], L[j, k]
                S3_WRITE S[k + 1, i, j], %s
        }
    }
}
";

/// The tile `text` (such as `L[k, k]`), the `nth` occurrence in `line`,
/// with the given indices.
fn tile<'s>(src: &'s str, line: &str, text: &str, nth: usize, index: Vec<Expr<'s>>) -> Operand<'s> {
    let span = within(src, line, text, nth);
    let name_len = text.find('[').unwrap();
    Operand::Tile(TileRef {
        matrix: Ident {
            name: &src[span.start as usize..span.start as usize + name_len],
            span: Span::new(span.start as usize, span.start as usize + name_len),
        },
        index,
        span,
    })
}

#[test]
fn the_loop_cholesky_parses_to_the_full_tree() {
    let src = CHOLESKY;
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let text = |s: Span| &src[s.range()];

    // param n = 4096, b = 512, seed = 42, nt = ceil(n / b)
    let p = "param n = 4096, b = 512, seed = 42, nt = ceil(n / b)";
    let expected_params = vec![
        Param {
            name: ident_word(src, p, "n", 0),
            default: Some(num(src, p, "4096", 0)),
            span: within(src, p, "n = 4096", 0),
        },
        Param {
            name: ident_word(src, p, "b", 0),
            default: Some(num(src, p, "512", 0)),
            span: within(src, p, "b = 512", 0),
        },
        Param {
            name: ident_word(src, p, "seed", 0),
            default: Some(num(src, p, "42", 0)),
            span: within(src, p, "seed = 42", 0),
        },
        Param {
            name: ident_word(src, p, "nt", 0),
            default: Some(call(
                ident_word(src, p, "ceil", 0),
                vec![binary(
                    BinOp::Div,
                    name(src, p, "n", 1),
                    name(src, p, "b", 1),
                )],
                within(src, p, "ceil(n / b)", 0),
            )),
            span: within(src, p, "nt = ceil(n / b)", 0),
        },
    ];
    assert_eq!(program.params, expected_params);

    let da = "matrix A : sym f64[n, n] tile [b, b] input = spd(seed)";
    let dl = "matrix L : f64[n, n] tile [b, b] output";
    let ds = "matrix S[nt] : sym f64[n, n] tile [b, b] temp = A";
    let shape = |line: &str| [name(src, line, "n", 0), name(src, line, "n", 1)];
    let tiling = |line: &str| [name(src, line, "b", 0), name(src, line, "b", 1)];
    let role = |line: &str, kind: RoleKind, word_: &str| Role {
        kind,
        span: word(src, line, word_, 0),
    };
    let expected_matrices = vec![
        MatrixDecl {
            name: ident_word(src, da, "A", 0),
            versions: vec![],
            structure: Some(Structure {
                kind: StructureKind::Sym,
                span: word(src, da, "sym", 0),
            }),
            dtype: ident_word(src, da, "f64", 0),
            shape: shape(da),
            tile: tiling(da),
            role: role(da, RoleKind::Input, "input"),
            init: Some(Init {
                name: ident_word(src, da, "spd", 0),
                args: vec![name(src, da, "seed", 0)],
                call: true,
                span: within(src, da, "spd(seed)", 0),
            }),
            span: span(src, da),
        },
        MatrixDecl {
            name: ident_word(src, dl, "L", 0),
            versions: vec![],
            structure: None,
            dtype: ident_word(src, dl, "f64", 0),
            shape: shape(dl),
            tile: tiling(dl),
            role: role(dl, RoleKind::Output, "output"),
            init: None,
            span: span(src, dl),
        },
        MatrixDecl {
            name: ident_word(src, ds, "S", 0),
            versions: vec![name(src, ds, "nt", 0)],
            structure: Some(Structure {
                kind: StructureKind::Sym,
                span: word(src, ds, "sym", 0),
            }),
            dtype: ident_word(src, ds, "f64", 0),
            shape: shape(ds),
            tile: tiling(ds),
            role: role(ds, RoleKind::Temp, "temp"),
            // `= A`: version 0 of S is the input A; no parentheses.
            init: Some(Init {
                name: ident_word(src, ds, "A", 0),
                args: vec![],
                call: false,
                span: word(src, ds, "A", 0),
            }),
            span: span(src, ds),
        },
    ];
    assert_eq!(program.matrices, expected_matrices);

    // The loop nest, innermost first.
    let closes: Vec<Span> = src
        .match_indices('}')
        .map(|(i, _)| Span::new(i, i + 1))
        .collect();
    let v = |line: &str, var: &str, nth: usize| name(src, line, var, nth);

    let syrk_line = "%s = SYRK S[k, i, j], L[i, k], L[j, k]";
    let write_s = "S3_WRITE S[k + 1, i, j], %s";
    let syrk = Job {
        label: ident_word(src, "syrk:", "syrk", 0),
        index: vec![],
        priority: None,
        body: vec![
            Instr {
                dests: vec![reg(src, syrk_line, "%s")],
                opcode: ident_word(src, syrk_line, "SYRK", 0),
                operands: vec![
                    tile(
                        src,
                        syrk_line,
                        "S[k, i, j]",
                        0,
                        vec![
                            v(syrk_line, "k", 0),
                            v(syrk_line, "i", 0),
                            v(syrk_line, "j", 0),
                        ],
                    ),
                    tile(
                        src,
                        syrk_line,
                        "L[i, k]",
                        0,
                        vec![v(syrk_line, "i", 1), v(syrk_line, "k", 1)],
                    ),
                    tile(
                        src,
                        syrk_line,
                        "L[j, k]",
                        0,
                        vec![v(syrk_line, "j", 1), v(syrk_line, "k", 2)],
                    ),
                ],
                span: span(src, syrk_line),
            },
            Instr {
                dests: vec![],
                opcode: ident_word(src, write_s, "S3_WRITE", 0),
                operands: vec![
                    tile(
                        src,
                        write_s,
                        "S[k + 1, i, j]",
                        0,
                        vec![
                            binary(BinOp::Add, v(write_s, "k", 0), num(src, write_s, "1", 0)),
                            v(write_s, "i", 0),
                            v(write_s, "j", 0),
                        ],
                    ),
                    Operand::Reg(reg(src, write_s, "%s")),
                ],
                span: span(src, write_s),
            },
        ],
        span: span(src, "syrk:").to(span(src, write_s)),
    };
    let hj = "for j in range(k + 1, i + 1) {";
    let loop_j = Loop {
        var: ident_word(src, hj, "j", 0),
        start: Some(binary(BinOp::Add, v(hj, "k", 0), num(src, hj, "1", 0))),
        end: binary(BinOp::Add, v(hj, "i", 0), num(src, hj, "1", 1)),
        step: None,
        body: vec![Item::Job(syrk)],
        span: span(src, hj),
        close: closes[0],
    };

    let trsm_line = "%x = TRSM_RLT S[k, i, k], L[k, k]";
    let write_x = "S3_WRITE L[i, k], %x";
    let trsm = Job {
        label: ident_word(src, "trsm:", "trsm", 0),
        index: vec![],
        priority: None,
        body: vec![
            Instr {
                dests: vec![reg(src, trsm_line, "%x")],
                opcode: ident_word(src, trsm_line, "TRSM_RLT", 0),
                operands: vec![
                    tile(
                        src,
                        trsm_line,
                        "S[k, i, k]",
                        0,
                        vec![
                            v(trsm_line, "k", 0),
                            v(trsm_line, "i", 0),
                            v(trsm_line, "k", 1),
                        ],
                    ),
                    tile(
                        src,
                        trsm_line,
                        "L[k, k]",
                        0,
                        vec![v(trsm_line, "k", 2), v(trsm_line, "k", 3)],
                    ),
                ],
                span: span(src, trsm_line),
            },
            Instr {
                dests: vec![],
                opcode: ident_word(src, write_x, "S3_WRITE", 0),
                operands: vec![
                    tile(
                        src,
                        write_x,
                        "L[i, k]",
                        0,
                        vec![v(write_x, "i", 0), v(write_x, "k", 0)],
                    ),
                    Operand::Reg(reg(src, write_x, "%x")),
                ],
                span: span(src, write_x),
            },
        ],
        span: span(src, "trsm:").to(span(src, write_x)),
    };
    let hi = "for i in range(k + 1, nt) {";
    let loop_i = Loop {
        var: ident_word(src, hi, "i", 0),
        start: Some(binary(BinOp::Add, v(hi, "k", 0), num(src, hi, "1", 0))),
        end: v(hi, "nt", 0),
        step: None,
        body: vec![Item::Job(trsm), Item::Loop(loop_j)],
        span: span(src, hi),
        close: closes[1],
    };

    let chol_line = "%l = CHOL S[k, k, k]";
    let write_l = "S3_WRITE L[k, k], %l";
    let chol = Job {
        label: ident_word(src, "chol:", "chol", 0),
        index: vec![],
        priority: None,
        body: vec![
            Instr {
                dests: vec![reg(src, chol_line, "%l")],
                opcode: ident_word(src, chol_line, "CHOL", 0),
                operands: vec![tile(
                    src,
                    chol_line,
                    "S[k, k, k]",
                    0,
                    vec![
                        v(chol_line, "k", 0),
                        v(chol_line, "k", 1),
                        v(chol_line, "k", 2),
                    ],
                )],
                span: span(src, chol_line),
            },
            Instr {
                dests: vec![],
                opcode: ident_word(src, write_l, "S3_WRITE", 0),
                operands: vec![
                    tile(
                        src,
                        write_l,
                        "L[k, k]",
                        0,
                        vec![v(write_l, "k", 0), v(write_l, "k", 1)],
                    ),
                    Operand::Reg(reg(src, write_l, "%l")),
                ],
                span: span(src, write_l),
            },
        ],
        span: span(src, "chol:").to(span(src, write_l)),
    };
    let hk = "for k in range(nt) {";
    let loop_k = Loop {
        var: ident_word(src, hk, "k", 0),
        start: None,
        end: v(hk, "nt", 0),
        step: None,
        body: vec![Item::Job(chol), Item::Loop(loop_i)],
        span: span(src, hk),
        close: closes[2],
    };
    assert_eq!(closes.len(), 3);
    assert_eq!(program.items, vec![Item::Loop(loop_k)]);

    // The same facts, read back as text.
    assert!(program.has_loops());
    assert_eq!(
        outline(&program),
        vec!["for k { chol, for i { trsm, for j { syrk } } }"]
    );
    assert_eq!(
        program
            .jobs()
            .map(|j| (j.label.name, text(j.span)))
            .collect::<Vec<_>>(),
        vec![
            (
                "chol",
                "chol:\n        %l = CHOL S[k, k, k]\n        S3_WRITE L[k, k], %l"
            ),
            (
                "trsm",
                "trsm:\n            %x = TRSM_RLT S[k, i, k], L[k, k]\n            S3_WRITE L[i, k], %x"
            ),
            (
                "syrk",
                "syrk:\n                %s = SYRK S[k, i, j], L[i, k], L[j, k]\n                S3_WRITE S[k + 1, i, j], %s"
            ),
        ]
    );
    let k = lp(&program.items[0]);
    let i = lp(&k.body[1]);
    let j = lp(&i.body[1]);
    assert_eq!(text(k.span), "for k in range(nt) {");
    assert_eq!(text(i.start.as_ref().unwrap().span()), "k + 1");
    assert_eq!(text(i.end.span()), "nt");
    assert_eq!(text(j.end.span()), "i + 1");
    assert_eq!(
        [k.close, i.close, j.close].map(|s| s.start as usize),
        [
            src.rfind("}\n").unwrap(),
            src.rfind("    }\n").unwrap() + 4,
            src.rfind("        }\n").unwrap() + 8
        ]
    );
    let write = &job(&j.body[0]).body[1];
    let Operand::Tile(s) = &write.operands[0] else {
        panic!("expected a tile")
    };
    assert_eq!(text(s.index[0].span()), "k + 1");
    assert_eq!(
        text(program.params[3].default.as_ref().unwrap().span()),
        "ceil(n / b)"
    );
}

/// The default of the parameter on the line `param NAME = ...`.
fn default<'p, 's>(program: &'p Program<'s>, param: &str) -> &'p Expr<'s> {
    program
        .params
        .iter()
        .find(|p| p.name.name == param)
        .and_then(|p| p.default.as_ref())
        .unwrap_or_else(|| panic!("no default for {param}"))
}

#[test]
fn operators_bind_by_precedence_and_associativity() {
    let src = "\
param p1 = a + b * c
param p2 = a - b - c
param p3 = 2^l^2
param p4 = -a * b
param p5 = -2^2
param p6 = a / b * c
param p7 = 2^-l
param p8 = a * -b - -c
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let line = |p: &str| {
        src.lines()
            .find(|l| l.starts_with(&format!("param {p} ")))
            .unwrap()
    };
    let v = |p: &str, var: &str, nth: usize| name(src, line(p), var, nth);
    let n = |p: &str, digits: &str, nth: usize| num(src, line(p), digits, nth);
    let from = |p: &str, text: &str| within(src, line(p), text, 0);

    // `*` binds tighter than `+`.
    assert_eq!(
        *default(&program, "p1"),
        binary(
            BinOp::Add,
            v("p1", "a", 0),
            binary(BinOp::Mul, v("p1", "b", 0), v("p1", "c", 0))
        )
    );
    // `-` is left associative: (a - b) - c.
    assert_eq!(
        *default(&program, "p2"),
        binary(
            BinOp::Sub,
            binary(BinOp::Sub, v("p2", "a", 0), v("p2", "b", 0)),
            v("p2", "c", 0)
        )
    );
    // `^` is right associative: 2^(l^2).
    assert_eq!(
        *default(&program, "p3"),
        binary(
            BinOp::Pow,
            n("p3", "2", 0),
            binary(BinOp::Pow, v("p3", "l", 0), n("p3", "2", 1))
        )
    );
    // Unary minus binds tighter than `*`: (-a) * b.
    assert_eq!(
        *default(&program, "p4"),
        binary(
            BinOp::Mul,
            neg(v("p4", "a", 0), from("p4", "-a")),
            v("p4", "b", 0)
        )
    );
    // ... and looser than `^`: -(2^2).
    assert_eq!(
        *default(&program, "p5"),
        neg(
            binary(BinOp::Pow, n("p5", "2", 0), n("p5", "2", 1)),
            from("p5", "-2^2")
        )
    );
    // `/` and `*` are one level, left associative: (a / b) * c.
    assert_eq!(
        *default(&program, "p6"),
        binary(
            BinOp::Mul,
            binary(BinOp::Div, v("p6", "a", 0), v("p6", "b", 0)),
            v("p6", "c", 0)
        )
    );
    // A negative exponent.
    assert_eq!(
        *default(&program, "p7"),
        binary(
            BinOp::Pow,
            n("p7", "2", 0),
            neg(v("p7", "l", 0), from("p7", "-l"))
        )
    );
    // (a * (-b)) - (-c)
    assert_eq!(
        *default(&program, "p8"),
        binary(
            BinOp::Sub,
            binary(
                BinOp::Mul,
                v("p8", "a", 0),
                neg(v("p8", "b", 0), from("p8", "-b"))
            ),
            neg(v("p8", "c", 0), from("p8", "-c"))
        )
    );
    // Each parameter spans `NAME = EXPR`.
    for p in &program.params {
        let line = line(p.name.name);
        assert_eq!(&src[p.span.range()], &line["param ".len()..]);
    }
}

#[test]
fn parentheses_group_and_calls_take_expressions() {
    let src = "\
param q1 = (a + b) * c
param q2 = a - (b - c)
param q3 = (2^l)^2
param q4 = -(a)
param q5 = ((a))
param q6 = max(a, b + 1) - floor(n / (b))
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let line = |p: &str| {
        src.lines()
            .find(|l| l.starts_with(&format!("param {p} ")))
            .unwrap()
    };
    let v = |p: &str, var: &str, nth: usize| name(src, line(p), var, nth);
    let n = |p: &str, digits: &str, nth: usize| num(src, line(p), digits, nth);
    let from = |p: &str, text: &str| within(src, line(p), text, 0);
    let text = |s: Span| &src[s.range()];

    // A parenthesised operand is its inner node, with the inner span; the
    // node around it spans the parentheses.
    assert_eq!(
        *default(&program, "q1"),
        binary_spanning(
            BinOp::Mul,
            binary(BinOp::Add, v("q1", "a", 0), v("q1", "b", 0)),
            v("q1", "c", 0),
            from("q1", "(a + b) * c")
        )
    );
    assert_eq!(
        *default(&program, "q2"),
        binary_spanning(
            BinOp::Sub,
            v("q2", "a", 0),
            binary(BinOp::Sub, v("q2", "b", 0), v("q2", "c", 0)),
            from("q2", "a - (b - c)")
        )
    );
    // Parentheses override the right associativity of `^`.
    assert_eq!(
        *default(&program, "q3"),
        binary_spanning(
            BinOp::Pow,
            binary(BinOp::Pow, n("q3", "2", 0), v("q3", "l", 0)),
            n("q3", "2", 1),
            from("q3", "(2^l)^2")
        )
    );
    assert_eq!(
        *default(&program, "q4"),
        neg(v("q4", "a", 0), from("q4", "-(a)"))
    );
    assert_eq!(*default(&program, "q5"), v("q5", "a", 0));
    assert_eq!(
        *default(&program, "q6"),
        binary(
            BinOp::Sub,
            call(
                ident_word(src, line("q6"), "max", 0),
                vec![
                    v("q6", "a", 0),
                    binary(BinOp::Add, v("q6", "b", 0), n("q6", "1", 0))
                ],
                from("q6", "max(a, b + 1)")
            ),
            call(
                ident_word(src, line("q6"), "floor", 0),
                vec![binary_spanning(
                    BinOp::Div,
                    v("q6", "n", 0),
                    v("q6", "b", 1),
                    from("q6", "n / (b)")
                )],
                from("q6", "floor(n / (b))")
            )
        )
    );
    // A parameter's span ends at the closing parenthesis, not inside it.
    let spans: Vec<&str> = program.params.iter().map(|p| text(p.span)).collect();
    assert_eq!(
        spans,
        vec![
            "q1 = (a + b) * c",
            "q2 = a - (b - c)",
            "q3 = (2^l)^2",
            "q4 = -(a)",
            "q5 = ((a))",
            "q6 = max(a, b + 1) - floor(n / (b))",
        ]
    );
}

#[test]
fn params_may_omit_their_default_and_share_a_line() {
    let src = "param n, b = 2 ; sizes\nparam seed\n";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    assert_eq!(
        program.params,
        vec![
            Param {
                name: ident_word(src, src, "n", 0),
                default: None,
                span: word(src, src, "n", 0),
            },
            Param {
                name: ident_word(src, src, "b", 0),
                default: Some(num(src, src, "2", 0)),
                span: span(src, "b = 2"),
            },
            Param {
                name: ident_word(src, src, "seed", 0),
                default: None,
                span: word(src, src, "seed", 0),
            },
        ]
    );
    assert!(program.items.is_empty());
}

#[test]
fn flat_labels_carry_index_expressions() {
    let src = "\
syrk[1, 4, 3]:
    RET
chol[k + 1]:
plain:
    RET
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let first = "syrk[1, 4, 3]:";
    let second = "chol[k + 1]:";
    assert_eq!(
        program.items,
        vec![
            Item::Job(Job {
                label: ident_word(src, first, "syrk", 0),
                index: vec![
                    num(src, first, "1", 0),
                    num(src, first, "4", 0),
                    num(src, first, "3", 0)
                ],
                priority: None,
                body: vec![Instr {
                    dests: vec![],
                    opcode: ident_word(src, src, "RET", 0),
                    operands: vec![],
                    span: word(src, src, "RET", 0),
                }],
                span: span(src, "syrk[1, 4, 3]:\n    RET"),
            }),
            Item::Job(Job {
                label: ident_word(src, second, "chol", 0),
                index: vec![binary(
                    BinOp::Add,
                    name(src, second, "k", 0),
                    num(src, second, "1", 0)
                )],
                priority: None,
                body: vec![],
                span: span(src, second),
            }),
            Item::Job(Job {
                label: ident_word(src, "plain:", "plain", 0),
                index: vec![],
                priority: None,
                body: vec![Instr {
                    dests: vec![],
                    opcode: ident_word(src, src, "RET", 1),
                    operands: vec![],
                    span: word(src, src, "RET", 1),
                }],
                span: span(src, "plain:\n    RET"),
            }),
        ]
    );
}

#[test]
fn tile_references_take_any_number_of_index_expressions() {
    let src = "j:\n    %0 = S3_LOAD V[2 * k, i - 1, j]\n    S3_WRITE M[0], %0\n";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let load = "%0 = S3_LOAD V[2 * k, i - 1, j]";
    let body = &job(&program.items[0]).body;
    assert_eq!(
        body[0].operands,
        vec![Operand::Tile(TileRef {
            matrix: ident_word(src, load, "V", 0),
            index: vec![
                binary(BinOp::Mul, num(src, load, "2", 0), name(src, load, "k", 0)),
                binary(BinOp::Sub, name(src, load, "i", 0), num(src, load, "1", 0)),
                name(src, load, "j", 0),
            ],
            span: within(src, load, "V[2 * k, i - 1, j]", 0),
        })]
    );
    let Operand::Tile(m) = &body[1].operands[0] else {
        panic!("expected a tile")
    };
    assert_eq!(m.index.iter().map(value).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn range_takes_an_end_a_start_and_an_optional_step() {
    let src = "\
for a in range(n) {
}
for b in range(1, n) {
}
for c in range(n - 1, 0 - 1, 0 - 2) {
    j:
}
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let text = |s: Span| &src[s.range()];
    let bounds: Vec<_> = program
        .items
        .iter()
        .map(|item| {
            let l = lp(item);
            (
                l.var.name,
                l.start.as_ref().map(|e| text(e.span())),
                text(l.end.span()),
                l.step.as_ref().map(|e| text(e.span())),
                l.body.len(),
            )
        })
        .collect();
    assert_eq!(
        bounds,
        vec![
            ("a", None, "n", None, 0),
            ("b", Some("1"), "n", None, 0),
            ("c", Some("n - 1"), "0 - 1", Some("0 - 2"), 1),
        ]
    );
    let c = lp(&program.items[2]);
    assert_eq!(text(c.span), "for c in range(n - 1, 0 - 1, 0 - 2) {");
    assert_eq!(c.close, Span::new(src.len() - 2, src.len() - 1));
}

#[test]
fn loops_and_jobs_interleave_and_jobs_iterates_them_in_source_order() {
    let src = "\
param n = 2
first:
    RET
for i in range(n) {
    a:
        RET
    for j in range(i) {
    }
    b:
    for j in range(i) {
        c:
    }
}
matrix M : f64[n, n] tile [1, 1] temp ; declarations may follow jobs
last:
    RET
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    assert_eq!(
        outline(&program),
        vec!["first", "for i { a, for j {}, b, for j { c } }", "last"]
    );
    assert_eq!(
        program.jobs().map(|j| j.label.name).collect::<Vec<_>>(),
        vec!["first", "a", "b", "c", "last"]
    );
    // A `}` ends the job before it: `b` is empty, `a` keeps its RET.
    let body = &lp(&program.items[1]).body;
    assert_eq!(job(&body[0]).body.len(), 1);
    assert_eq!(&src[job(&body[2]).span.range()], "b:");
    assert_eq!(program.matrices.len(), 1);
    assert_eq!(program.params.len(), 1);
}

#[test]
fn versions_and_initialiser_forms() {
    let src = "\
matrix V[nt, 2] : f64[n, n] tile [b, b] temp = A
matrix A : f64[n, n] tile [b, b] input = identity()
matrix B : f64[n, n] tile [b, b] input = random(seed + 1, 2)
";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let v = src.lines().next().unwrap();
    assert_eq!(
        program.matrices[0].versions,
        vec![name(src, v, "nt", 0), num(src, v, "2", 0)]
    );
    let inits: Vec<_> = program
        .matrices
        .iter()
        .map(|m| {
            let i = m.init.as_ref().unwrap();
            (
                i.name.name,
                i.call,
                i.args
                    .iter()
                    .map(|a| &src[a.span().range()])
                    .collect::<Vec<_>>(),
                &src[i.span.range()],
            )
        })
        .collect();
    assert_eq!(
        inits,
        vec![
            ("A", false, vec![], "A"),
            ("identity", true, vec![], "identity()"),
            ("random", true, vec!["seed + 1", "2"], "random(seed + 1, 2)"),
        ]
    );
}

#[test]
fn an_instruction_may_define_several_results() {
    let src = "matrix A : f64[4, 4] tile [2, 2] input\nqr:\n    %v, %t,%r = GEQRT A[0, 0]\n";
    let (program, errors) = parse(src);
    assert_eq!(errors, vec![]);
    let job = program.jobs().next().unwrap();
    let instr = &job.body[0];
    let names: Vec<&str> = instr.dests.iter().map(|d| d.name).collect();
    assert_eq!(names, ["v", "t", "r"]);
    let text = |s: Span| &src[s.range()];
    assert_eq!(text(instr.span), "%v, %t,%r = GEQRT A[0, 0]");
    assert_eq!(text(instr.dests[2].span), "%r");
    // A trailing comma is a syntax error, and the next line still parses
    // with no leftover result.
    let src = "qr:\n    %v, = GEQRT %a\n    S3_WRITE A[0, 0], %v\n";
    let (program, errors) = parse(src);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let job = program.jobs().next().unwrap();
    assert_eq!(job.body.len(), 1);
    assert!(job.body[0].dests.is_empty());
}
