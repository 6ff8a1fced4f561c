//! placeholder: the logos lexer lands with the grammar work
