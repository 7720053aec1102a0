/*
 * Web shells: scripts dropped into a web root that run what an HTTP request
 * tells them to (MITRE ATT&CK T1505.003). haetae's own generic rules: they
 * look for the trait every such shell shares, request input flowing
 * straight into code or command execution, not for one family.
 *
 *  [1] MITRE ATT&CK T1505.003, Server Software Component: Web Shell.
 *  [2] PHP manual: eval, assert (evaluates a string before PHP 8), system,
 *      exec, shell_exec, passthru, popen, proc_open, the backtick operator.
 *  [3] Java SE API: Runtime.exec, ProcessBuilder; JSP request.getParameter.
 *  [4] FireEye, "Breaking Down the China Chopper Web Shell" (2013): the
 *      one-line ASP/ASPX eval(Request.Item[...]) client.
 */

/*
 * Whether a web server would run the file as PHP, JSP or ASP: by its
 * extension (the handler mapping of Apache, nginx+php-fpm, Tomcat and IIS),
 * or, whatever its name, by starting as a script does, or as an image with
 * a script right behind its header (the GIF89a<?php polyglot an upload
 * filter lets through). The same text quoted in a C test, a Markdown page
 * or a findings file is not a web shell. `extension` is set by the scanner.
 */
private rule Runs_As_PHP
{
    strings:
        $open = "<?php" nocase
        $echo = "<?="

    condition:
        extension matches /^(php[0-9]?|phtml|pht|phar|inc)$/ or
        uint16(0) == 0x3f3c or
        ((uint32(0) == 0x38464947 or uint32be(0) == 0x89504e47 or uint16be(0) == 0xffd8) and
         ($open in (0..1024) or $echo in (0..1024)))
}

private rule Runs_As_JSP
{
    condition:
        extension matches /^(jsp|jspx|jspf)$/ or uint16(0) == 0x253c
}

private rule Runs_As_ASP
{
    strings:
        $runat = /<script[^>]{0,40}runat\s*=\s*"?server/ nocase

    condition:
        extension matches /^(asp|aspx|ashx|asmx|asa|cer|cshtml)$/ or uint16(0) == 0x253c or
        $runat in (0..64)
}

rule Webshell_PHP_Exec_Of_Request_Input : webshell php
{
    meta:
        description = "PHP passing request input (GET/POST/REQUEST/COOKIE) straight to code or command execution"
        severity = "high"
        author = "haetae"
        reference = "attack.mitre.org/techniques/T1505/003"

    strings:
        $call = /\b(eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*(@\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        /* $_GET['f']($_GET['a']): the request names the function too */
        $dynamic_call = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase

    condition:
        filesize < 2MB and Runs_As_PHP and any of them
}

rule Webshell_PHP_Eval_Of_Decoded_Payload : webshell php
{
    meta:
        description = "PHP evaluating a decoded or unpacked string: eval(base64_decode(...)) and kin"
        severity = "high"
        author = "haetae"
        reference = "attack.mitre.org/techniques/T1505/003"

    strings:
        $eval_decoded = /\b(eval|assert)\s*\(\s*(@\s*)?(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|convert_uudecode)\s*\(/ nocase
        $create_function = /\bcreate_function\s*\(\s*['"]['"]\s*,\s*(base64_decode|gzinflate|str_rot13|\$_(GET|POST|REQUEST|COOKIE))/ nocase

    condition:
        filesize < 2MB and Runs_As_PHP and any of them
}

rule Webshell_JSP_Exec_Of_Request_Parameter : webshell jsp
{
    meta:
        description = "JSP running a command built from a request parameter"
        severity = "high"
        author = "haetae"
        reference = "attack.mitre.org/techniques/T1505/003"

    strings:
        $runtime_param = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*request\s*\.\s*getParameter\s*\(/
        $builder_param = /new\s+ProcessBuilder\s*\([^;]{0,80}request\s*\.\s*getParameter\s*\(/
        $jsp_tag = "<%"
        $runtime_exec = "Runtime.getRuntime().exec("
        $get_parameter = "request.getParameter("

    condition:
        filesize < 2MB and Runs_As_JSP and
        ($runtime_param or $builder_param or ($jsp_tag and $runtime_exec and $get_parameter))
}

rule Webshell_ASP_Eval_Of_Request : webshell asp
{
    meta:
        description = "ASP/ASPX evaluating request input, the China Chopper one-liner and its kin"
        severity = "high"
        author = "haetae"
        reference = "attack.mitre.org/techniques/T1505/003; FireEye, Breaking Down the China Chopper Web Shell (2013)"

    strings:
        $eval_request = /\beval\s*\(\s*Request\s*(\.\s*(Item|Form|QueryString))?\s*[\[\(]/ nocase
        $execute_request = /\bExecute(Global)?\s*\(?\s*Request\s*(\.\s*(Item|Form|QueryString))?\s*[\[\(]/ nocase

    condition:
        filesize < 2MB and Runs_As_ASP and any of them
}
