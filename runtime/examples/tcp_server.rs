//! A tokio TCP server on 127.0.0.1 whose every connection is served by a
//! lariat process: tokio accepts, a process owns the connection and answers
//! each line with the line in upper case, awaiting the socket's reads and
//! writes on tokio (`Cx::await_future`) so its worker serves other processes
//! meanwhile. It serves a set number of connections, then stops by itself.
//!
//! Run it: `cargo run --release -p lariat --features tokio --example tcp_server`
//! (it connects three clients of its own and prints what they got back).

use std::io;

use lariat::{Reason, Runtime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Accepts `connections` connections on `listener`, each served by a process
/// of `runtime`; returns once every one of them has ended, with how many
/// lines they answered in all.
pub async fn serve(listener: TcpListener, runtime: lariat::Handle, connections: usize) -> io::Result<usize> {
    let (report_tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await?;
        let on = tokio::runtime::Handle::current();
        let report = Report(Some(report_tx.clone()));
        runtime
            .spawn(move |cx| {
                let mut report = report;
                let outcome = serve_connection(cx, &on, stream);
                report.send(outcome.clone());
                outcome.map(|_| ())
            })
            .map_err(io::Error::other)?;
    }
    let mut lines = 0;
    for _ in 0..connections {
        match reports.recv().await {
            Some(Ok(answered)) => lines += answered,
            Some(Err(reason)) => return Err(io::Error::other(format!("a connection's process ended with {reason}"))),
            None => return Err(io::Error::other("the reports stopped")),
        }
    }
    Ok(lines)
}

/// How a connection's process ended, sent once: by the process, or by its
/// drop if it crashed first.
struct Report(Option<tokio::sync::mpsc::UnboundedSender<Result<usize, Reason>>>);

impl Report {
    fn send(&mut self, outcome: Result<usize, Reason>) {
        if let Some(sender) = self.0.take() {
            let _ = sender.send(outcome);
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.send(Err(Reason::error("the connection's process crashed")));
    }
}

/// A connection's process: a line in, the line in upper case out, until the
/// client closes its side.
fn serve_connection(cx: &mut lariat::Cx, on: &tokio::runtime::Handle, stream: TcpStream) -> Result<usize, Reason> {
    let mut stream = BufReader::new(stream);
    let mut answered = 0;
    loop {
        let (back, read) = cx.await_future(on, async move {
            let mut line = String::new();
            let read = stream.read_line(&mut line).await.map(|n| (n, line));
            (stream, read)
        })?;
        stream = back;
        let (n, line) = read?;
        if n == 0 {
            return Ok(answered);
        }
        let (back, written) = cx.await_future(on, async move {
            let written = stream.get_mut().write_all(line.to_uppercase().as_bytes()).await;
            (stream, written)
        })?;
        stream = back;
        written?;
        answered += 1;
    }
}

/// A client: sends `lines` and reads the answers.
pub async fn client(address: std::net::SocketAddr, lines: Vec<String>) -> io::Result<Vec<String>> {
    let mut stream = BufReader::new(TcpStream::connect(address).await?);
    let mut answers = Vec::new();
    for line in lines {
        stream.get_mut().write_all(format!("{line}\n").as_bytes()).await?;
        let mut answer = String::new();
        stream.read_line(&mut answer).await?;
        answers.push(answer.trim_end().to_owned());
    }
    Ok(answers)
}

#[allow(dead_code)] // run by `cargo run --example`; the test includes the rest of this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokio = tokio::runtime::Runtime::new()?;
    let lariat = Runtime::new()?;
    let handle = lariat.handle();
    tokio.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(serve(listener, handle, 3));
        let clients =
            ["hello", "lariat", "bye"].map(|word| tokio::spawn(client(address, vec![word.into(), "again".into()])));
        for client in clients {
            println!("{:?}", client.await??);
        }
        println!("served {} lines on {address}, then stopped", server.await??);
        Ok(())
    })
}
