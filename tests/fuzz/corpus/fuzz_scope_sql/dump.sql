CREATE TABLE `t` (
 `id` int,
 `reg` char(14) COMMENT '주민등록번호',
 `acct` varchar(20),
 PRIMARY KEY (`id`)
);
INSERT INTO `t` VALUES (1,'900101-1234568','110-234-567890'),(2,'O\'Neil 9001012234561','x');
INSERT INTO t (id, phone) VALUES (3, '01023456789');
(4,'x')
