fn main() {
    // TODO: greet in more languages
    println!("hello");
}
