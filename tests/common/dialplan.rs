//! The small dialplan several suites run calls on.

/// `dialplan/default.xml` with the echo test on 9196 and `bridge user/$1` (with
/// call_timeout=10 and hangup_after_bridge) for destinations matching `users`, a
/// regex such as `^(10[0-9][0-9])$`.
pub fn echo_and_users(users: &str) -> String {
    format!(
        r#"<include>
  <context name="default">
    <extension name="echo">
      <condition field="destination_number" expression="^9196$">
        <action application="answer"/>
        <action application="echo"/>
      </condition>
    </extension>
    <extension name="local">
      <condition field="destination_number" expression="{users}">
        <action application="set" data="call_timeout=10"/>
        <action application="set" data="hangup_after_bridge=true"/>
        <action application="bridge" data="user/$1"/>
      </condition>
    </extension>
  </context>
</include>
"#
    )
}
