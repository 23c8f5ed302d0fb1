// sqlx::migrate! embeds the migrations and include_str! the static files at compile time; a new or
// changed one must rebuild. (askama tracks its own templates.)
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=static");
}
