#!/usr/bin/env escript
%% The Erlang side of the differential conformance runner: runs one scenario
%% (docs/conformance.md) on real OTP and prints its canonical trace.
%% Usage: escript conformance/runner.escript SCENARIO_FILE...
%% With several files, each trace is followed by a line "%% end of trace".
-mode(compile).
-export([init/1, child_start/4, sup_start/4, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).  % the supervision scenarios' callbacks

main([]) ->
    io:format(standard_error, "usage: runner.escript SCENARIO...~n", []),
    halt(2);
main(Files) ->
    %% Crash reports of scenario processes are not part of any trace.
    logger:set_primary_config(level, none),
    run_files(Files).

run_files([File]) -> io:put_chars(run_file(File));
run_files(Files) -> [io:put_chars([run_file(F), "%% end of trace\n"]) || F <- Files].

run_file(File) ->
    {ok, Bin} = file:read_file(File),
    Text = binary_to_list(Bin),
    case is_supervision(Text) of
        true -> run_sup(parse_sup(Text));
        false -> run(parse(Text))
    end.

%% A supervision scenario (docs/conformance.md) has a `sup` line.
is_supervision(Text) ->
    lists:any(fun(L) -> lists:prefix("sup ", string:trim(L)) end, string:split(Text, "\n", all)).

%% ---- parsing: one step per line, `#` starts a comment
parse(Text) ->
    Lines = [string:trim(hd(string:split(L, "#"))) || L <- string:split(Text, "\n", all)],
    [step(string:lexemes(L, " \t")) || L <- Lines, L =/= ""].

step(["proc", Name | Opts]) -> {proc, Name, lists:member("trap", Opts)};
step(["wait_dead", Name]) -> {wait_dead, Name};
step(["settle", Name]) -> {settle, Name};
step(["settle_all"]) -> settle_all;
step(["mark"]) -> mark;
step(["mark", "racy"]) -> mark;
step([Actor | Op]) ->
    case lists:last(Actor) of
        $: -> {op, lists:droplast(Actor), Op};
        _ -> error({bad_step, [Actor | Op]})
    end.

%% ---- the driver (this process)
run(Steps) ->
    St0 = #{pids => #{}, names => #{}, order => [], mons => #{}, dead => #{}},
    St = lists:foldl(fun do/2, St0, Steps),
    Trace = trace(St),
    cleanup(St),
    Trace.

%% Leaves nothing behind for the next scenario in this VM.
cleanup(#{pids := Pids}) ->
    [exit(Pid, kill) || Pid <- maps:values(Pids)],
    wait_gone(maps:values(Pids)),
    flush().

wait_gone(Pids) ->
    case [P || P <- Pids, is_process_alive(P)] of
        [] -> ok;
        Left -> timer:sleep(1), wait_gone(Left)
    end.

flush() -> receive _ -> flush() after 0 -> ok end.

do({proc, Name, Trap}, St) ->
    Driver = self(),
    Pid = spawn(fun() -> init(Name, Trap, Driver, Driver) end),
    receive {ready, Pid} -> ok end,
    add(Name, Pid, St);
do({wait_dead, Name}, St) ->
    Pid = pid(Name, St),
    case maps:is_key(Name, maps:get(dead, St)) of
        true -> St;
        false ->
            Ref = maps:get(Pid, maps:get(mons, St)),
            receive {'DOWN', Ref, process, Pid, R} -> dead(Name, R, St) end
    end;
do({settle, Name}, St) -> command(Name, ping, St);
do(settle_all, St) ->
    Before = maps:size(maps:get(dead, St)),
    St1 = lists:foldl(fun(N, Acc) -> command(N, ping, Acc) end, St, maps:get(order, St)),
    case maps:size(maps:get(dead, St1)) of
        Before -> St1;
        _ -> do(settle_all, St1)
    end;
do(mark, St = #{dead := D, order := Order}) ->
    K = maps:get(marks, St, 0) + 1,
    [pid(N, St) ! {msg, "@" ++ integer_to_list(K)} || N <- Order, not maps:is_key(N, D)],
    St#{marks => K};
do({op, Name, Op}, St) -> command(Name, {op, Op}, St).

add(Name, Pid, St = #{pids := P, names := N, order := O, mons := M}) ->
    Ref = erlang:monitor(process, Pid),
    St#{pids := P#{Name => Pid}, names := N#{Pid => Name}, order := O ++ [Name], mons := M#{Pid => Ref}}.

pid(Name, #{pids := P}) -> maps:get(Name, P).

dead(Name, R, St = #{dead := D}) -> St#{dead := D#{Name => R}}.

%% Sends a command and waits for its ack, or for the actor's death.
command(Name, Cmd, St) ->
    case maps:is_key(Name, maps:get(dead, St)) of
        true -> St;
        false ->
            Pid = pid(Name, St),
            Ref = maps:get(Pid, maps:get(mons, St)),
            Pid ! {cmd, self(), Cmd, maps:get(pids, St)},
            receive
                {ack, Pid, Spawned} ->
                    lists:foldl(fun({N, P}, Acc) -> add(N, P, Acc) end, St, Spawned);
                {'DOWN', Ref, process, Pid, R} -> dead(Name, R, St)
            end
    end.

trace(St = #{order := Order}) ->
    [entry(Name, St) || Name <- Order].

entry(Name, St = #{dead := D, names := Names}) ->
    case maps:find(Name, D) of
        {ok, R} -> [Name, ": dead ", reason(R), "\n"];
        error ->
            Pid = pid(Name, St),
            Ref = maps:get(Pid, maps:get(mons, St)),
            Pid ! {cmd, self(), dump, #{}},
            receive
                {dump, Pid, Msgs, MonNames} ->
                    [Name, ": alive\n" | [["  ", message(M, Names, MonNames), "\n"] || M <- Msgs]];
                {'DOWN', Ref, process, Pid, R} -> [Name, ": dead ", reason(R), "\n"]
            end
    end.

message({'EXIT', From, R}, Names, _) -> ["EXIT ", name(From, Names), " ", reason(R)];
message({'DOWN', Ref, process, Object, R}, Names, Mons) ->
    Object1 = case Object of {Reg, _Node} -> atom_to_list(Reg); P -> name(P, Names) end,
    ["DOWN ", maps:get(Ref, Mons, "?"), " ", Object1, " ", reason(R)];
message({msg, Text}, _, _) -> ["MSG ", Text];
message(Other, _, _) -> io_lib:format("OTHER ~p", [Other]).

name(Pid, Names) -> maps:get(Pid, Names, "?").

reason(R) when is_atom(R) -> atom_to_list(R);
reason({crash, _Stack}) -> "crash";
reason({R, _}) when is_atom(R) -> atom_to_list(R);
reason(R) -> io_lib:format("~p", [R]).

%% ---- a scenario process
%% Sets the trap flag, then tells its creator it is ready: a scenario step never
%% races a process's start.
init(Name, Trap, Driver, Creator) ->
    process_flag(trap_exit, Trap),
    Creator ! {ready, self()},
    loop(Name, Driver, #{}).

loop(Name, Driver, Mons) ->
    receive
        {cmd, Driver, ping, _} -> Driver ! {ack, self(), []}, loop(Name, Driver, Mons);
        {cmd, Driver, dump, _} ->
            Driver ! {dump, self(), drain([]), maps:fold(fun(K, V, A) -> A#{V => K} end, #{}, Mons)},
            loop(Name, Driver, Mons);
        {cmd, Driver, {op, Op}, Pids} ->
            {Mons1, Spawned} = op(Op, {Driver, Pids}, Mons),
            Driver ! {ack, self(), Spawned},
            loop(Name, Driver, Mons1)
    end.

drain(Acc) -> receive M -> drain([M | Acc]) after 0 -> lists:reverse(Acc) end.

op(["link", Other], D, Mons) -> link(whereis_name(Other, D)), {Mons, []};
op(["unlink", Other], D, Mons) -> unlink(whereis_name(Other, D)), {Mons, []};
op(["monitor", Other, M], D, Mons) -> {Mons#{M => erlang:monitor(process, whereis_name(Other, D))}, []};
op(["monitor_name", Reg, M], _, Mons) -> {Mons#{M => erlang:monitor(process, list_to_atom(Reg))}, []};
op(["demonitor", M], _, Mons) -> erlang:demonitor(maps:get(M, Mons)), {Mons, []};
op(["demonitor_flush", M], _, Mons) -> erlang:demonitor(maps:get(M, Mons), [flush]), {Mons, []};
op(["demonitor_info", M], _, Mons) ->
    Active = erlang:demonitor(maps:get(M, Mons), [info]),
    self() ! {msg, "demonitor_" ++ M ++ "_" ++ atom_to_list(Active)},
    {Mons, []};
op(["demonitor_flush_info", M], _, Mons) ->
    Active = erlang:demonitor(maps:get(M, Mons), [flush, info]),
    self() ! {msg, "demonitor_" ++ M ++ "_" ++ atom_to_list(Active)},
    {Mons, []};
op(["send", Other, Text], D, Mons) -> whereis_name(Other, D) ! {msg, Text}, {Mons, []};
op(["send_name", Reg, Text], _, Mons) -> list_to_atom(Reg) ! {msg, Text}, {Mons, []};
op(["exit_self", R], _, _) -> exit(list_to_atom(R));
op(["crash"], _, _) -> erlang:error(crash);
op(["exit", Other, R], D, Mons) -> exit(whereis_name(Other, D), list_to_atom(R)), {Mons, []};
op(["trap", "on"], _, Mons) -> process_flag(trap_exit, true), {Mons, []};
op(["trap", "off"], _, Mons) -> process_flag(trap_exit, false), {Mons, []};
op(["whereis", Reg], {_, Pids}, Mons) ->
    Holder = case whereis(list_to_atom(Reg)) of
        undefined -> "undefined";
        Pid -> hd([N || {N, P} <- maps:to_list(Pids), P =:= Pid] ++ ["?"])
    end,
    self() ! {msg, "whereis_" ++ Reg ++ "_" ++ Holder},
    {Mons, []};
op(["is_alive", Other], D, Mons) ->
    Alive = is_process_alive(whereis_name(Other, D)),
    self() ! {msg, "is_alive_" ++ Other ++ "_" ++ atom_to_list(Alive)},
    {Mons, []};
op(["process_info", Other], D, Mons) ->
    self() ! {msg, "process_info_" ++ Other ++ "_" ++ defined(process_info(whereis_name(Other, D)))},
    {Mons, []};
op(["status", Other], D, Mons) ->
    self() ! {msg, "status_" ++ Other ++ "_" ++ defined(process_info(whereis_name(Other, D), status))},
    {Mons, []};
op(["poll_dead", Other], D, Mons) ->
    Seen = poll_dead(whereis_name(Other, D), 1000000),
    self() ! {msg, "poll_" ++ Other ++ "_" ++ Seen},
    {Mons, []};
op(["await_down", Other], D, Mons) ->
    Ref = erlang:monitor(process, whereis_name(Other, D)),
    receive {'DOWN', Ref, process, _, R} -> self() ! {msg, lists:flatten(["down_", Other, "_", reason(R)])} end,
    {Mons, []};
op(["register", Reg], _, Mons) -> register(list_to_atom(Reg), self()), {Mons, []};
op(["unregister", Reg], _, Mons) -> unregister(list_to_atom(Reg)), {Mons, []};
op(["spawn_link", New | Opts], {D, _}, Mons) ->
    Trap = lists:member("trap", Opts),
    Self = self(),
    Pid = spawn_link(fun() -> init(New, Trap, D, Self) end),
    receive {ready, Pid} -> ok end,
    {Mons, [{New, Pid}]};
op(["spawn_monitor", New, M | Opts], {D, _}, Mons) ->
    Trap = lists:member("trap", Opts),
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> init(New, Trap, D, Self) end),
    receive {ready, Pid} -> ok end,
    {Mons#{M => Ref}, [{New, Pid}]}.

defined(undefined) -> "undefined";
defined(_) -> "alive".

%% As a user writes it: ask again and again, nothing else in the loop.
poll_dead(_, 0) -> "alive";
poll_dead(Pid, Left) ->
    case is_process_alive(Pid) of
        true -> poll_dead(Pid, Left - 1);
        false -> "gone"
    end.

%% Scenario processes name each other; each command carries the driver's map.
whereis_name(Name, {_Driver, Pids}) -> maps:get(Name, Pids).

%% ---- supervision scenarios: supervisors from OTP's `supervisor`, children
%% that log to the driver (their starts are logged by the start function, which
%% the supervisor runs; their stops by themselves, trapping exits)
parse_sup(Text) ->
    Lines = [string:trim(hd(string:split(L, "#"))) || L <- string:split(Text, "\n", all)],
    [string:lexemes(L, " \t") || L <- Lines, L =/= ""].

run_sup(Steps) ->
    process_flag(trap_exit, true),
    St = lists:foldl(fun sup_step/2, #{specs => #{}, sups => #{}, order => [], log => []}, Steps),
    Log = drain_log([]),
    Ends = [sup_end(Name, St) || Name <- maps:get(order, St)],
    [exit(Pid, kill) || {Pid, _} <- maps:values(maps:get(sups, St))],
    flush(),
    [["LOG ", L, "\n"] || L <- Log] ++ Ends.

drain_log(Acc) -> receive {log, L} -> drain_log([L | Acc]) after 0 -> lists:reverse(Acc) end.

sup_end(Name, #{sups := Sups}) ->
    case maps:find(Name, Sups) of
        error -> ["SUP ", Name, " never started\n"];
        {ok, {Pid, Ref}} ->
            receive {'DOWN', Ref, process, Pid, R} -> ["SUP ", Name, " dead ", reason(R), "\n"]
            after 0 ->
                case is_process_alive(Pid) of
                    true -> ["SUP ", Name, " alive\n"];
                    false -> receive {'DOWN', Ref, process, Pid, R} -> ["SUP ", Name, " dead ", reason(R), "\n"] end
                end
            end
    end.

log(Text) -> self() ! {log, lists:flatten(Text)}.

sup_step(["sup", Name, Strategy, Intensity, Period], St = #{specs := Specs}) ->
    Flags = #{strategy => list_to_atom(Strategy), intensity => list_to_integer(Intensity),
              period => list_to_integer(Period)},
    St#{specs := Specs#{Name => {Flags, []}}};
sup_step(["child", Sup, Id | Rest], St = #{specs := Specs}) ->
    {Flags, Children} = maps:get(Sup, Specs),
    Parents = maps:get(parents, St, #{}),
    St1 = case lists:member("supervisor", Rest) of
              true -> St#{parents => Parents#{Id => Sup}};
              false -> St
          end,
    St1#{specs := Specs#{Sup => {Flags, Children ++ [{Id, Rest}]}}};
sup_step(["start", Sup], St = #{specs := Specs, sups := Sups, order := Order}) ->
    {Flags, _} = maps:get(Sup, Specs),
    case supervisor:start_link(?MODULE, {sup, Flags, build_children(Sup, St)}) of
        {ok, Pid} ->
            log(["started ", Sup]),
            St#{sups := Sups#{Sup => {Pid, erlang:monitor(process, Pid)}}, order := Order ++ [Sup]};
        {error, _} ->
            %% A linked start that failed also sent its exit signal: take it.
            receive {'EXIT', _, _} -> ok after 100 -> ok end,
            log(["start_failed ", Sup]),
            St
    end;
sup_step(["wait_dead", Sup], St = #{sups := Sups}) ->
    case maps:is_key(Sup, Sups) of
        true -> sup_op(["wait_dead", Sup], St);
        false -> St  % never started: nothing to wait for
    end;
sup_step(Step = [_, Sup | _], St) ->
    case sup_pid(Sup, St) of
        undefined -> St;  % never started, or not running now: nothing to do
        Pid ->
            case is_process_alive(Pid) of
                true -> sup_op(Step, St);
                false -> St  % it has ended: nothing to do
            end
    end.

%% The child specs of supervisor `Sup`, a nested supervisor's with its own.
build_children(Sup, St = #{specs := Specs}) ->
    {_, Children} = maps:get(Sup, Specs),
    [case lists:member("supervisor", Rest) of
         true ->
             {SubFlags, _} = maps:get(Id, Specs),
             [Restart, Shutdown | _] = Rest,
             (child_spec(Id, [Restart, Shutdown]))#{
                 start => {?MODULE, sup_start, [Id, self(), SubFlags, build_children(Id, St)]},
                 type => supervisor};
         false -> child_spec(Id, Rest)
     end || {Id, Rest} <- Children].

sup_start(Id, Driver, Flags, Children) ->
    Driver ! {log, "start " ++ Id},
    supervisor:start_link(?MODULE, {sup, Flags, Children}).

sup_op(["crash", Sup, Id, Reason], St) -> end_child(Sup, Id, fun(P) -> P ! {crash, list_to_atom(Reason)} end, St);
sup_op(["kill", Sup, Id], St) -> end_child(Sup, Id, fun(P) -> exit(P, kill) end, St);
sup_op(["cast", Sup, Id, Reason], St) ->
    end_child(Sup, Id, fun(P) -> gen_server:cast(P, {crash, list_to_atom(Reason)}) end, St);
sup_op(["call", Sup, Id], St) ->
    case [P || {I, P, _, _} <- supervisor:which_children(sup_pid(Sup, St)), I =:= list_to_atom(Id), is_pid(P)] of
        [] -> St;
        [Child] -> log(["call ", Id, " ", atom_to_list(gen_server:call(Child, ping))]), St
    end;
sup_op(["terminate_child", Sup, Id], St) ->
    log(["terminate_child ", Id, " ", result(supervisor:terminate_child(sup_pid(Sup, St), list_to_atom(Id)))]), St;
sup_op(["restart_child", Sup, Id], St) ->
    log(["restart_child ", Id, " ", result(supervisor:restart_child(sup_pid(Sup, St), list_to_atom(Id)))]), St;
sup_op(["delete_child", Sup, Id], St) ->
    log(["delete_child ", Id, " ", result(supervisor:delete_child(sup_pid(Sup, St), list_to_atom(Id)))]), St;
sup_op(["start_child", Sup, Id | Rest], St) ->
    log(["start_child ", Id, " ", result(supervisor:start_child(sup_pid(Sup, St), child_spec(Id, Rest)))]), St;
sup_op(["which", Sup], St) ->
    Children = supervisor:which_children(sup_pid(Sup, St)),
    Each = [[atom_to_list(Id), "=", case P of undefined -> "undefined"; _ -> "alive" end]
            || {Id, P, _, _} <- lists:reverse(Children)],
    log(["children ", Sup, ": ", lists:join(" ", Each)]), St;
sup_op(["count", Sup], St) ->
    C = supervisor:count_children(sup_pid(Sup, St)),
    log(io_lib:format("count ~s: specs=~p active=~p supervisors=~p workers=~p",
                      [Sup, proplists:get_value(specs, C), proplists:get_value(active, C),
                       proplists:get_value(supervisors, C), proplists:get_value(workers, C)])), St;
sup_op(["stop", Sup], St) ->
    ok = gen_server:stop(sup_pid(Sup, St)),
    log(["stopped ", Sup]), St;
sup_op(["wait_dead", Sup], St) ->
    {Pid, Ref} = maps:get(Sup, maps:get(sups, St)),
    receive {'DOWN', Ref, process, Pid, R} -> self() ! {'DOWN', Ref, process, Pid, R} end,
    St.

%% A supervisor's pid: a top-level one's from the start, a nested one's from
%% its parent's children now (`undefined` if it does not run).
sup_pid(Sup, St = #{sups := Sups}) ->
    case maps:find(Sup, Sups) of
        {ok, {Pid, _}} -> Pid;
        error ->
            case maps:find(Sup, maps:get(parents, St, #{})) of
                error -> undefined;
                {ok, Parent} ->
                    case sup_pid(Parent, St) of
                        undefined -> undefined;
                        ParentPid ->
                            case is_process_alive(ParentPid) of
                                false -> undefined;
                                true ->
                                    hd([P || {I, P, _, _} <- supervisor:which_children(ParentPid),
                                             I =:= list_to_atom(Sup), is_pid(P)] ++ [undefined])
                            end
                    end
            end
    end.

%% Ends child `Id` of `Sup` by `How`, then waits until the supervisor has
%% handled its end (a call answered after the child's exit signal arrived).
end_child(Sup, Id, How, St) ->
    SupPid = sup_pid(Sup, St),
    case [P || {I, P, _, _} <- supervisor:which_children(SupPid), I =:= list_to_atom(Id), is_pid(P)] of
        [] -> St;  % no such child running: nothing to do
        [Child] ->
            Ref = erlang:monitor(process, Child),
            How(Child),
            receive {'DOWN', Ref, process, Child, _} -> ok end,
            catch supervisor:count_children(SupPid),
            St
    end.

result(ok) -> "ok";
result({ok, _}) -> "ok";
result({ok, _, _}) -> "ok";
result({error, {already_started, _}}) -> "already_started";
result({error, E}) when is_atom(E) -> atom_to_list(E);
result({error, _}) -> "error".

%% `child SUP ID RESTART SHUTDOWN [stubborn] [fail]`
child_spec(Id, [Restart, Shutdown | Opts]) ->
    #{id => list_to_atom(Id),
      start => {?MODULE, child_start, [Id, self(), kind(Opts), lists:member("fail", Opts)]},
      restart => list_to_atom(Restart),
      shutdown => case Shutdown of
                      "brutal_kill" -> brutal_kill;
                      "infinity" -> infinity;
                      Ms -> list_to_integer(Ms)
                  end,
      type => worker}.

kind(Opts) ->
    case lists:member("server", Opts) of
        true -> server;
        false -> lists:member("stubborn", Opts)
    end.

init({sup, Flags, Children}) -> {ok, {Flags, Children}};
%% A server child: traps exits (so its supervisor's shutdown runs terminate).
init({server, Id, Driver}) ->
    process_flag(trap_exit, true),
    Driver ! {log, "init " ++ Id},
    {ok, {Id, Driver}}.

handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast({crash, R}, S) -> {stop, R, S}.
handle_info(_, S) -> {noreply, S}.
terminate(R, {Id, Driver}) -> Driver ! {log, lists:flatten(["terminate ", Id, " ", reason(R)])}.

child_start(Id, Driver, server, false) ->
    Driver ! {log, "start " ++ Id},
    gen_server:start_link(?MODULE, {server, Id, Driver}, []);
child_start(Id, Driver, _Stubborn, true) ->
    Driver ! {log, "start " ++ Id ++ " failed"},
    {error, nope};
child_start(Id, Driver, Stubborn, false) ->
    Driver ! {log, "start " ++ Id},
    Self = self(),
    Pid = spawn_link(fun() -> process_flag(trap_exit, true), Self ! {ready, self()}, child_loop(Id, Driver, Self, Stubborn) end),
    receive {ready, Pid} -> ok end,
    {ok, Pid}.

child_loop(Id, Driver, Sup, Stubborn) ->
    receive
        {crash, normal} -> ok;
        {crash, Reason} -> exit(Reason);
        {'EXIT', Sup, Reason} when Stubborn ->
            Driver ! {log, lists:flatten(["ignore ", Id, " ", reason(Reason)])},
            child_loop(Id, Driver, Sup, Stubborn);
        {'EXIT', Sup, Reason} ->
            Driver ! {log, lists:flatten(["stop ", Id, " ", reason(Reason)])},
            exit(Reason);
        _ -> child_loop(Id, Driver, Sup, Stubborn)
    end.
