use lariat::{Reason, Runtime};
#[test]
fn smoke() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let v = rt.block_on(|cx| {
        let me = cx.pid();
        for i in 0..1000u32 {
            cx.spawn(move |cx| { cx.send(me, i); Ok(()) })?;
        }
        let mut sum = 0u64;
        for _ in 0..1000 { sum += u64::from(cx.receive::<u32>()?); }
        Ok::<_, Reason>(sum)
    }).unwrap();
    assert_eq!(v, 999*1000/2);
    let t = rt.block_on(|cx| { Ok::<_, Reason>(cx.receive_timeout::<u32>(std::time::Duration::from_millis(20))?) }).unwrap();
    assert_eq!(t, None);
    let r = rt.block_on(|_cx| -> Result<(), Reason> { panic!("boom") });
    println!("{r:?}");
}
