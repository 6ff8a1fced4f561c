//! Properties over arbitrary input: `parse` never panics, and every span it
//! returns (in the tree and in the errors) lies inside the source, on
//! character boundaries, and covers the text the node claims to be.

use grammar::ast::{Ident, Operand, Program, Span};
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
    %2 = TRSM %0, %1
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

fn check_program(src: &str, program: &Program<'_>) -> Result<(), TestCaseError> {
    for m in &program.matrices {
        check_span(src, m.span, "declaration")?;
        check_ident(src, m.name, "matrix name")?;
        check_ident(src, m.dtype, "dtype")?;
        if let Some(sym) = m.symmetric {
            check_span(src, sym, "sym")?;
            prop_assert_eq!(&src[sym.range()], "sym");
        }
        for int in m.shape.iter().chain(&m.tile) {
            check_span(src, int.span, "dimension")?;
        }
        check_span(src, m.role.span, "role")?;
        if let Some(init) = &m.init {
            check_span(src, init.span, "initialiser")?;
            check_ident(src, init.name, "initialiser name")?;
            for arg in &init.args {
                check_span(src, arg.span, "initialiser argument")?;
            }
        }
    }
    for job in &program.jobs {
        check_span(src, job.span, "job")?;
        check_ident(src, job.label, "label")?;
        for instr in &job.body {
            check_span(src, instr.span, "instruction")?;
            prop_assert!(job.span.start <= instr.span.start && instr.span.end <= job.span.end);
            check_ident(src, instr.opcode, "opcode")?;
            let regs = instr
                .dest
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
                if let Operand::Tile(tile) = operand {
                    check_span(src, tile.span, "tile")?;
                    check_ident(src, tile.matrix, "tile matrix")?;
                    for int in &tile.index {
                        check_span(src, int.span, "tile index")?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn check(src: &str) -> Result<(), TestCaseError> {
    let (program, errors) = parse(src);
    check_program(src, &program)?;
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
}

#[test]
fn the_unmutated_program_is_valid() {
    let (program, errors) = parse(VALID);
    assert_eq!(errors, vec![]);
    assert_eq!(program.matrices.len(), 3);
    assert_eq!(
        program
            .jobs
            .iter()
            .map(|j| (j.label.name, j.body.len()))
            .collect::<Vec<_>>(),
        vec![("chol_0", 4), ("trsm_1", 4), ("syrk_2", 4), ("chol_3", 3)]
    );
}
